"""Checkers for notebook 03c (generalization): early stopping with patience, initialisation by the activation,
parameter groups for weight decay, and (find the bug) a validation accuracy that leaves dropout on."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, require_class, run_check


# --- Exercise 1: early stopping with patience -----------------------------------------------------------------
def _reference_stops(losses: list[float], patience: int, min_delta: float) -> list[tuple[bool, float, int]]:
    """After each call: (stop?, best loss so far, epoch of the best), epochs counted from 1."""
    best, best_epoch, waited, out = math.inf, 0, 0, []
    for epoch, loss in enumerate(losses, start=1):
        if loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
        out.append((waited >= patience, best, best_epoch))
    return out


@exercise("03c", "early_stopping")
def check_early_stopping(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``EarlyStopping(patience, min_delta=0.0)``: ``.step(val_loss)`` is called once per epoch and returns
    True once the validation loss has not improved (fallen below ``best - min_delta``) for ``patience`` epochs in
    a row; ``.best`` is the lowest loss seen that counted as an improvement and ``.best_epoch`` its epoch
    (counting calls from 1). Tried on random validation curves (falling, then noisy and rising)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_early_stopping(EarlyStopping)")
        cases = [([1.0, 0.9, 0.9, 0.95, 1.0, 1.1], 2, 0.0), ([1.0, 0.95, 0.94, 0.93, 0.92, 0.91], 2, 0.02),
                 ([0.5, 0.6, 0.4, 0.45, 0.5, 0.55, 0.6], 3, 0.0)]
        for _ in range(trials):
            n = rng.randint(5, 14)
            turn = rng.randint(1, n - 1)
            losses = [round(2.0 - 0.1 * min(i, turn) + 0.05 * max(0, i - turn) + rng.uniform(-0.04, 0.04), 3)
                      for i in range(n)]
            cases.append((losses, rng.randint(1, 4), rng.choice([0.0, 0.0, 0.01, 0.03])))
        for losses, patience, min_delta in cases:
            case = current["case"] = (f"stopper = EarlyStopping(patience={patience}, min_delta={min_delta}); "
                                      f"stopper.step(loss) for loss in {losses}")
            stopper = cls(patience=patience, min_delta=min_delta)
            for epoch, (loss, (stop, best, best_epoch)) in enumerate(
                    zip(losses, _reference_stops(losses, patience, min_delta)), start=1):
                got = stopper.step(loss)
                where = f"{case}; after epoch {epoch} (loss {loss})"
                got_best, got_epoch = getattr(stopper, "best", None), getattr(stopper, "best_epoch", None)
                if not isinstance(got_best, (int, float)) or not math.isclose(got_best, best, abs_tol=1e-12):
                    raise fail(where, f"stopper.best == {best}", f"stopper.best == {got_best!r}",
                               "best is the lowest loss that counted as an improvement: a loss improves only when "
                               "it is below best - min_delta (start from best = math.inf)")
                if got_epoch != best_epoch:
                    raise fail(where, f"stopper.best_epoch == {best_epoch}", f"stopper.best_epoch == {got_epoch!r}",
                               "count the calls of step from 1, and record the epoch whenever best improves")
                if not isinstance(got, bool):
                    raise fail(where, f"step returns {stop} (a bool)", f"{type(got).__name__} {got!r}",
                               "return True (stop) or False (go on)")
                if got != stop:
                    waited = epoch - best_epoch
                    hint = (f"{waited} epoch(s) without improvement and patience={patience}: stop once the count "
                            "of epochs without improvement reaches patience (>=), and reset the count to 0 on "
                            "every improvement")
                    raise fail(where, f"step returns {stop}", f"{got}", hint)
                if stop:
                    break

    return run_check("early_stopping", trials, body)


# --- Exercise 2: initialisation chosen by the activation ------------------------------------------------------
def _want_std(fan_in: int, fan_out: int, nonlinearity: str) -> float:
    if nonlinearity == "relu":
        return math.sqrt(2.0 / fan_in)
    return 5.0 / 3.0 * math.sqrt(2.0 / (fan_in + fan_out))


@exercise("03c", "init_for")
def check_init_for(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``init_for(layer, nonlinearity)``: re-initialise an ``nn.Linear`` in place for the activation that
    follows it: ``"relu"``: Kaiming (He), weights of std ``sqrt(2 / fan_in)``; ``"tanh"``: Xavier (Glorot) with
    tanh's gain 5/3, std ``5/3 * sqrt(2 / (fan_in + fan_out))``; the bias zero in both cases. Tried on large
    random layers (the weights' standard deviation is measured within 5 %)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_init_for(init_for)")
        for trial in range(trials):
            fan_in = rng.choice([64, 128, 512, 1024])
            fan_out = rng.choice([f for f in (64, 128, 512, 1024) if f != fan_in])
            nonlinearity = "relu" if trial % 2 == 0 else "tanh"
            layer = nn.Linear(fan_in, fan_out)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(fan_out, fan_in, generator=gen) * 3.0)  # nothing like the answer
                layer.bias.copy_(torch.randn(fan_out, generator=gen))
            weight, bias = layer.weight, layer.bias
            case = current["case"] = f"init_for(nn.Linear({fan_in}, {fan_out}), {nonlinearity!r})"
            fn(layer, nonlinearity)
            if layer.weight is not weight or layer.bias is not bias:
                raise fail(case, "the layer's own weight and bias changed in place",
                           "new Parameter objects", "fill the existing tensors in place: nn.init.*_(layer.weight, ...) "
                           "or `with torch.no_grad(): layer.weight.normal_(...)`")
            want = _want_std(fan_in, fan_out, nonlinearity)
            got = layer.weight.detach().std().item()
            if not math.isclose(got, want, rel_tol=0.05) or abs(layer.weight.detach().mean().item()) > 0.1 * want:
                hints = {"relu": "Kaiming for ReLU: variance 2 / fan_in, with fan_in = in_features = "
                                 "layer.weight.shape[1] (nn.init.kaiming_normal_(w, nonlinearity='relu'))",
                         "tanh": "Xavier for tanh: variance gain**2 * 2 / (fan_in + fan_out) with gain = 5/3 "
                                 "(nn.init.calculate_gain('tanh'))"}
                fans = ""
                if math.isclose(got, math.sqrt(2.0 / fan_out), rel_tol=0.05) and nonlinearity == "relu":
                    fans = "; your std matches fan_out instead of fan_in (weight is [out_features, in_features])"
                elif math.isclose(got, math.sqrt(2.0 / (fan_in + fan_out)), rel_tol=0.05):
                    fans = "; your std lacks tanh's gain of 5/3"
                raise fail(case, f"weights of mean 0 and std {want:.4f}", f"std {got:.4f}, mean "
                           f"{layer.weight.detach().mean().item():.4f}", hints[nonlinearity] + fans)
            if layer.bias.detach().abs().max().item() != 0.0:
                raise fail(case, "bias all zeros", f"bias with values up to {layer.bias.detach().abs().max():.3g}",
                           "set the bias to zero: nn.init.zeros_(layer.bias)")

    return run_check("init_for", trials, body)


# --- Exercise 3: which parameters get weight decay ------------------------------------------------------------
def _random_model(rng: random.Random, trial: int) -> nn.Module:
    width = rng.choice([8, 16])
    layers: list[nn.Module] = [nn.Embedding(20, width)] if trial % 2 == 0 else [nn.Linear(6, width)]
    layers += [nn.LayerNorm(width), nn.Linear(width, width, bias=rng.random() < 0.5), nn.ReLU()]
    if trial % 3 == 1:
        layers.append(nn.BatchNorm1d(width) if trial % 2 else nn.LayerNorm(width))
    frozen = nn.Linear(width, width)
    frozen.requires_grad_(False)  # a frozen layer: the optimizer must not get it at all
    layers += [frozen, nn.Linear(width, 3)]
    return nn.Sequential(*layers)


@exercise("03c", "decay_groups")
def check_decay_groups(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``decay_groups(model, weight_decay)``: a list of two optimizer parameter groups, ``{"params": [...],
    "weight_decay": weight_decay}`` with every trainable parameter of 2 or more dimensions (weight matrices,
    embeddings) and ``{"params": [...], "weight_decay": 0.0}`` with the trainable 1-d ones (biases, the scales
    and shifts of normalisation layers); frozen parameters (``requires_grad=False``) in neither. Tried on random
    models with linear, embedding, normalisation and frozen layers."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_decay_groups(decay_groups)")
        for trial in range(trials):
            model = _random_model(rng, trial)
            weight_decay = rng.choice([0.01, 0.05, 0.1])
            names = {id(p): name for name, p in model.named_parameters()}
            case = current["case"] = f"decay_groups(model, {weight_decay}) with model = {model}".replace("\n", " ")
            groups = fn(model, weight_decay)
            if (not isinstance(groups, (list, tuple)) or len(groups) != 2
                    or not all(isinstance(g, dict) and "params" in g and "weight_decay" in g for g in groups)):
                raise fail(case, "a list of two dicts, each with 'params' and 'weight_decay'", repr(groups)[:200],
                           'return [{"params": decay, "weight_decay": weight_decay}, '
                           '{"params": no_decay, "weight_decay": 0.0}]')
            seen: dict[int, float] = {}
            for group in groups:
                for p in list(group["params"]):
                    if id(p) in seen:
                        raise fail(case, "each parameter in one group only", f"{names.get(id(p), '?')} twice",
                                   "a parameter goes into exactly one group")
                    seen[id(p)] = group["weight_decay"]
            for name, p in model.named_parameters():
                if not p.requires_grad:
                    if id(p) in seen:
                        raise fail(case, f"{name} (frozen) in no group", f"{name} in a group",
                                   "skip frozen parameters (p.requires_grad is False): they are not trained")
                    continue
                want = weight_decay if p.ndim >= 2 else 0.0
                if id(p) not in seen:
                    raise fail(case, f"{name} in the group with weight_decay={want}", f"{name} missing",
                               "every trainable parameter belongs to one of the two groups")
                if seen[id(p)] != want:
                    hint = ("decay weight matrices and embeddings (ndim >= 2); biases and normalisation scales "
                            "(ndim == 1) get 0.0: decaying a LayerNorm scale pulls it to 0, which is not 'simpler'")
                    raise fail(case, f"{name} ({tuple(p.shape)}) with weight_decay={want}",
                               f"weight_decay={seen[id(p)]}", hint)
            torch.optim.AdamW(groups, lr=1e-3)  # the groups must be what an optimizer accepts

    return run_check("decay_groups", trials, body)


# --- Exercise 4 (find the bug): validation accuracy with dropout ------------------------------------------------
@exercise("03c", "val_accuracy")
def check_val_accuracy(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``val_accuracy(model, images, labels)``: the fraction (a float) of ``images`` whose argmax logit is
    the label, computed the way validation must be: dropout off (eval mode; ``torch.no_grad()`` saves the graph's
    memory but does not switch dropout off). Tried on random models with dropout that a training loop left in
    training mode; called twice on the same data, it must give the same, deterministic answer."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_val_accuracy(val_accuracy)")
        for _ in range(trials):
            n, features, classes = rng.randint(200, 400), rng.randint(5, 20), rng.randint(2, 6)
            p = rng.choice([0.3, 0.5, 0.7])
            model = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Dropout(p), nn.Linear(64, classes))
            with torch.no_grad():
                for param in model.parameters():
                    param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
            images = torch.randn(n, features, generator=gen)
            model.eval()
            with torch.no_grad():
                logits = model(images)
            labels = torch.where(torch.rand(n, generator=gen) < 0.7, logits.argmax(-1),
                                 torch.randint(0, classes, (n,), generator=gen))
            want = (logits.argmax(-1) == labels).float().mean().item()
            model.train()  # as a training loop leaves it
            case = current["case"] = (f"val_accuracy(model, images, labels), model with nn.Dropout({p}) left in "
                                      f"train mode by the training loop; {n} examples")
            first, second = fn(model, images, labels), fn(model, images, labels)
            for got in (first, second):
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    got = got.item()
                if not isinstance(got, float):
                    raise fail(case, f"{want:.4f} (a float)", f"{type(got).__name__} {got!r}"[:120],
                               "return a Python float: (predictions == labels).float().mean().item()")
                if not math.isclose(got, want, abs_tol=1e-6):
                    shown = f"{second:.4f}" if isinstance(second, float) else repr(second)[:60]
                    repeat = "" if first == second else f" (and a second call gave {shown}: the answer is random)"
                    raise fail(case, f"{want:.4f}", f"{got:.4f}{repeat}",
                               "dropout is still on: it drops random units at every call, so validation is noisy "
                               "and too low. Switch it off before scoring: call model.eval() (with the "
                               "parentheses); torch.no_grad() alone only skips the graph")

    return run_check("val_accuracy", trials, body)
