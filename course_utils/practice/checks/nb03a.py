"""Checkers for notebook 03a (nn.Module): parameters, buffers, containers, optimizer parameter groups."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import (
    CheckResult,
    exercise,
    fail,
    require_callable,
    require_class,
    run_check,
    show,
    tensor_problem,
)


def _build(cls: type, case: str, *args: object) -> nn.Module:
    """Instantiate the learner's module; a missing ``super().__init__()`` gets its own hint."""
    try:
        module = cls(*args)
    except AttributeError as error:
        if "Module.__init__() call" in str(error):
            raise fail(case, "a module", f"AttributeError: {error}",
                       "call super().__init__() first in __init__, before assigning parameters or layers") from None
        raise
    if not isinstance(module, nn.Module):
        raise fail(case, "an nn.Module", type(module).__name__, "subclass nn.Module: class X(nn.Module)")
    return module


# --- Exercise 1: parameters -----------------------------------------------------------------------------------
@exercise("03a", "affine")
def check_affine(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check an ``Affine(n_in, n_out)`` module, ``nn.Linear`` written by hand: two registered parameters,
    ``weight`` of shape ``(n_out, n_in)`` and ``bias`` of shape ``(n_out,)`` (any initial values), and
    ``forward(x) = x @ weight.T + bias`` for inputs of shape ``(..., n_in)``; gradients reach both."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_affine(Affine)")
        for _ in range(trials):
            n_in, n_out = rng.randint(1, 6), rng.randint(1, 6)
            case = current["case"] = f"Affine({n_in}, {n_out})"
            module = _build(cls, case, n_in, n_out)
            params = dict(module.named_parameters())
            shapes = {name: tuple(p.shape) for name, p in params.items()}
            want = {"weight": (n_out, n_in), "bias": (n_out,)}
            if shapes != want:
                hint = ("a plain tensor attribute is not registered, even with requires_grad=True (parameters() and "
                        "the optimizer never see it): wrap it in nn.Parameter(...)" if not shapes else
                        "weight is (n_out, n_in), as in nn.Linear: forward uses weight.T")
                raise fail(f"{case}: dict(module.named_parameters()) shapes", want, shapes, hint)
            with torch.no_grad():  # random values: a bias left at zero would hide a forgotten "+ bias"
                for p in module.parameters():
                    p.normal_(generator=gen)
            batch = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2)))
            x = torch.randn(*batch, n_in, generator=gen)
            current["case"] = f"{case}(x) with x of shape {tuple(x.shape)}"
            got = module(x)
            expected = F.linear(x, params["weight"], params["bias"])
            if problem := tensor_problem(got, expected, atol=1e-5):
                raise fail(current["case"], show(expected, 120), show(got, 120),
                           f"{problem}; forward returns x @ self.weight.T + self.bias")
            if got.requires_grad:
                got.sum().backward()
            if not got.requires_grad or module.weight.grad is None or module.bias.grad is None:
                raise fail(f"{current['case']}.sum().backward()", "gradients in weight.grad and bias.grad",
                           "None", "compute forward from self.weight and self.bias (no .detach(), no .data)")

    return run_check("Affine module", trials, body)


# --- Exercise 3: buffers that a forward pass updates -------------------------------------------------------------
@exercise("03a", "running_norm")
def check_running_norm(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a ``RunningNorm(n_features, momentum=0.1, eps=1e-5)`` module, batch normalisation without the learned
    scale and shift, against the formulas of ``nn.BatchNorm1d(n_features, eps, momentum, affine=False)``:
    ``running_mean`` (zeros) and ``running_var`` (ones) are **buffers**, not parameters; in training mode the
    output uses the batch's mean and biased variance, and each call moves the running statistics towards the
    batch's (mean, unbiased variance) by ``momentum``, without recording a graph; in eval mode the output uses the
    running statistics and changes nothing. Gradients flow to the input in training mode.

    The reference is written out with tensor operations, not run through ``nn.BatchNorm1d``: the checker runs in a
    thread, and the batch-norm kernel's thread pool crawled there on a busy 2-core machine.
    """
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_running_norm(RunningNorm)")
        for _ in range(trials):
            features, momentum = rng.randint(1, 5), rng.choice([0.1, 0.2, 0.5])
            case = current["case"] = f"RunningNorm({features}, momentum={momentum})"
            module = _build(cls, case, features, momentum)
            reference = {"running_mean": torch.zeros(features), "running_var": torch.ones(features)}
            params = [name for name, _ in module.named_parameters()]
            if params:
                raise fail(f"{case}: parameters", "none (running statistics are not trained)", params,
                           "self.register_buffer('running_mean', torch.zeros(n_features)), not nn.Parameter")
            keys = set(module.state_dict())
            if not {"running_mean", "running_var"} <= keys:
                raise fail(f"{case}: module.state_dict() keys", "running_mean and running_var", sorted(keys),
                           "a plain tensor attribute is not saved: store both with self.register_buffer(name, tensor)")
            module.train()
            for step in range(rng.randint(1, 3)):
                x = (torch.randn(rng.randint(2, 6), features, generator=gen) * 3 + 2).requires_grad_()
                current["case"] = f"{case}, train mode, call {step + 1}: module(x) with x of shape {tuple(x.shape)}"
                got = module(x)
                data = x.detach()  # the reference, nn.BatchNorm1d's formulas written out
                want = (data - data.mean(0)) / torch.sqrt(data.var(0, unbiased=False) + 1e-5)
                for name, batch_value in (("running_mean", data.mean(0)), ("running_var", data.var(0))):
                    reference[name] = (1 - momentum) * reference[name] + momentum * batch_value
                if problem := tensor_problem(got, want, atol=1e-4):
                    biased = (x - x.mean(0)) / torch.sqrt(x.var(0) + 1e-5)
                    hint = ("normalise with the batch's biased variance, x.var(dim=0, unbiased=False), as batch "
                            "norm does"
                            if tensor_problem(got, biased, atol=1e-4) is None else
                            "in training mode normalise with the batch's own statistics: (x - mean) / sqrt(var + eps), "
                            "mean and var over dim=0")
                    raise fail(current["case"], show(want, 80), problem, hint)
                got.sum().backward()
                if x.grad is None:
                    raise fail(f"{current['case']}.sum().backward()", "a gradient in x.grad", "None",
                               "compute the output from x with tensor operations (no .detach() on the output)")
                for name in ("running_mean", "running_var"):
                    buffer = getattr(module, name, None)
                    if not isinstance(buffer, torch.Tensor):
                        raise fail(current["case"], f"a buffer module.{name}", repr(buffer), "register it")
                    if buffer.requires_grad:
                        raise fail(f"{current['case']}; module.{name}.requires_grad", "False", "True",
                                   "update the running statistics under torch.no_grad() (or from detached values): "
                                   "they are state, not part of the graph")
                    want_buffer = reference[name]
                    if problem := tensor_problem(buffer, want_buffer, atol=1e-4):
                        hint = (f"{name} = (1 - momentum) * {name} + momentum * the batch's "
                                + ("mean" if name == "running_mean" else "unbiased variance (x.var(dim=0))")
                                + ", in place, in training mode only")
                        raise fail(f"{current['case']}; module.{name} after the call", show(want_buffer, 80), problem,
                                   hint)
            module.eval()
            x = torch.randn(rng.randint(1, 4), features, generator=gen) * 3 + 2
            current["case"] = f"{case}, after training calls, eval mode: module(x) with x of shape {tuple(x.shape)}"
            before = module.get_buffer("running_mean").clone()
            got = module(x)
            want = (x - reference["running_mean"]) / torch.sqrt(reference["running_var"] + 1e-5)
            if problem := tensor_problem(got, want, atol=1e-4):
                raise fail(current["case"], show(want, 80), problem,
                           "in eval mode (self.training is False) normalise with the running statistics")
            if not torch.equal(module.get_buffer("running_mean"), before):
                raise fail(f"{current['case']}; running_mean", "unchanged in eval mode", "changed",
                           "update the running statistics only when self.training is True")
            module.double()
            dtype = module.get_buffer("running_mean").dtype
            if dtype != torch.float64:
                raise fail(f"{case}.double(); running_mean.dtype", "torch.float64", str(dtype),
                           "only registered buffers follow .double() and .to(device): use register_buffer")

    return run_check("RunningNorm module (buffers)", trials, body)


# --- Exercise 3: containers ------------------------------------------------------------------------------------
@exercise("03a", "mlp")
def check_mlp(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check an ``MLP(sizes)`` module: one ``nn.Linear(sizes[i], sizes[i + 1])`` per consecutive pair, all
    registered (in an ``nn.ModuleList`` or ``nn.Sequential``), with a ReLU between layers but not after the last
    one (its outputs are logits). ``forward`` must equal applying its own linear layers in order."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_mlp(MLP)")
        for _ in range(trials):
            sizes = [rng.randint(1, 6) for _ in range(rng.randint(2, 5))]
            case = current["case"] = f"MLP({sizes})"
            model = _build(cls, case, list(sizes))
            want_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
            n_params = sum(p.numel() for p in model.parameters())
            if n_params != want_params:
                hint = ("a plain Python list hides its layers from the module: use nn.ModuleList" if n_params == 0
                        else "one nn.Linear(sizes[i], sizes[i + 1]) per consecutive pair of sizes")
                raise fail(f"{case}: number of parameters", want_params, n_params, hint)
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            x = torch.randn(rng.randint(1, 4), sizes[0], generator=gen)
            want = x
            for i, layer in enumerate(linears):
                want = layer(want) if i == len(linears) - 1 else torch.relu(layer(want))
            current["case"] = f"{case}(x) with x of shape {tuple(x.shape)}"
            got = model(x)
            if problem := tensor_problem(got, want, atol=1e-5):
                hint = ("no ReLU after the last layer: its outputs are logits and may be negative"
                        if torch.allclose(got, torch.relu(want), atol=1e-5) else
                        "apply the layers in order with torch.relu between them")
                raise fail(current["case"], show(want, 120), show(got, 120), f"{problem}; {hint}")

    return run_check("MLP with nn.ModuleList", trials, body)


# --- Exercise 4: parameter groups ------------------------------------------------------------------------------
def _random_model(rng: random.Random) -> tuple[nn.Module, str]:
    width = rng.randint(2, 6)
    pool = [
        ("nn.Linear", lambda: nn.Linear(width, width)),
        ("nn.LayerNorm", lambda: nn.LayerNorm(width)),
        ("nn.Linear(bias=False)", lambda: nn.Linear(width, width, bias=False)),
        ("nn.Embedding", lambda: nn.Embedding(7, width)),
        ("nn.BatchNorm1d", lambda: nn.BatchNorm1d(width)),
    ]
    chosen = [pool[0], pool[1], *rng.sample(pool, rng.randint(1, 4))]
    rng.shuffle(chosen)
    return nn.Sequential(*(make() for _, make in chosen)), " -> ".join(name for name, _ in chosen)


@exercise("03a", "param_groups")
def check_param_groups(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``param_groups(model, weight_decay)``: a list of parameter-group dicts for an optimizer in which every
    parameter of ``model`` appears exactly once, matrices (``p.ndim >= 2``: weights, embeddings) with
    ``"weight_decay": weight_decay`` and everything else (biases, normalisation scales) with ``0.0``."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_param_groups(param_groups)")
        for _ in range(trials):
            model, described = _random_model(rng)
            decay = rng.choice([0.01, 0.05, 0.1])
            case = current["case"] = f"param_groups(nn.Sequential({described}), weight_decay={decay})"
            groups = fn(model, decay)
            if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) and "params" in g for g in groups):
                raise fail(case, 'a list of dicts like {"params": [...], "weight_decay": ...}', groups,
                           "an optimizer takes a list of parameter groups, one dict each")
            seen: dict[int, float] = {}
            for group in groups:
                for p in group["params"]:
                    if id(p) in seen:
                        raise fail(case, "every parameter in exactly one group", f"a {tuple(p.shape)} parameter "
                                   "in two groups", "split model.parameters() once, by p.ndim")
                    seen[id(p)] = group.get("weight_decay")
            for name, p in model.named_parameters():
                want = decay if p.ndim >= 2 else 0.0
                if id(p) not in seen:
                    raise fail(case, f"{name} {tuple(p.shape)} in a group", "missing", "use every model.parameters()")
                if seen[id(p)] != want:
                    raise fail(case, f"{name} {tuple(p.shape)} with weight_decay={want}",
                               f"weight_decay={seen[id(p)]}",
                               "decide by shape, not by name: p.ndim >= 2 decays; 1-d tensors (biases, norm "
                               "scales such as LayerNorm's weight) get weight_decay=0.0")
            torch.optim.AdamW(groups, lr=1e-3)  # an optimizer must accept the groups as they are

    return run_check("param_groups (no decay on biases and norms)", trials, body)
