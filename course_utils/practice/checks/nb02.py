"""Checkers for notebook 02 (autograd): a custom backward, finite differences, a manual backward pass, an SGD step."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


def _shape(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))


# --- Exercise 1: backward of a custom autograd.Function -------------------------------------------------------
@exercise("02", "softplus_backward")
def check_softplus_backward(function: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a ``torch.autograd.Function`` subclass computing softplus, ``log(1 + exp(x))``: its ``apply`` must
    give ``F.softplus(x)`` and its ``backward`` the chain rule, ``grad_output * sigmoid(x)``, for random float64
    inputs of random shapes and random upstream gradients (not only ones)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        apply = require_callable(getattr(function, "apply", None), "autograd.Function class",
                                 "check_softplus_backward(SoftplusFn)")
        for _ in range(trials):
            shape = _shape(rng)
            x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).requires_grad_()
            upstream = torch.randn(shape, generator=gen, dtype=torch.float64)
            case = current["case"] = f"SoftplusFn.apply(x) for x of shape {shape}, upstream gradient random"
            out = apply(x)
            if problem := tensor_problem(out, F.softplus(x)):
                raise fail(case, "F.softplus(x)", problem, "forward is given: leave it as it is")
            (got,) = torch.autograd.grad(out, x, upstream)
            want = upstream * torch.sigmoid(x.detach())
            if problem := tensor_problem(got, want, atol=1e-10, rtol=1e-8):
                ones = torch.autograd.grad(apply(x), x, torch.ones_like(x))[0]
                local_ok = tensor_problem(ones, torch.sigmoid(x.detach()), atol=1e-10, rtol=1e-8) is None
                hint = ("the local derivative is right, but the upstream gradient is missing: return grad_output "
                        "times it (chain rule)" if local_ok else
                        "d softplus(x)/dx = exp(x) / (1 + exp(x)) = sigmoid(x); times grad_output")
                raise fail(f"{case}; the gradient x.grad", show(want, 150), show(got, 150), f"{problem}: {hint}")

    return run_check("softplus_backward", trials, body)


# --- Exercise 2: finite differences ---------------------------------------------------------------------------
def _functions(rng: random.Random, gen: torch.Generator, shape: tuple[int, ...]) -> list[tuple[str, Callable]]:
    weights = torch.randn(shape, generator=gen, dtype=torch.float64)
    return [
        ("(torch.sin(x) * x**2).sum()", lambda x: (torch.sin(x) * x**2).sum()),
        ("torch.logsumexp(x.flatten(), 0)", lambda x: torch.logsumexp(x.flatten(), 0)),
        ("(torch.exp(x / 2) * w).sum() with w random", lambda x: (torch.exp(x / 2) * weights).sum()),
        ("(x.tanh() ** 3).mean()", lambda x: (x.tanh() ** 3).mean()),
    ]


@exercise("02", "numerical_grad")
def check_numerical_grad(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``numerical_grad(f, x, h)``: the gradient of a scalar function ``f`` at ``x`` (any shape, float64)
    by **central** differences, ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every element ``i``, as a tensor
    shaped like ``x``; ``x`` must be unchanged afterwards. Compared with autograd at ``h = 1e-4``, where only
    central differences (error ~h²) are accurate enough; forward differences (error ~h) are not."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_numerical_grad(numerical_grad)")
        for _ in range(trials):
            shape = _shape(rng)
            name, f = rng.choice(_functions(rng, gen, shape))
            x = torch.randn(shape, generator=gen, dtype=torch.float64)
            before = x.clone()
            case = current["case"] = f"numerical_grad(f, x, h=1e-4), f(x) = {name}, x of shape {shape}"
            leaf = x.clone().requires_grad_()
            (want,) = torch.autograd.grad(f(leaf), leaf)
            got = fn(f, x, 1e-4)
            if not torch.equal(x, before):
                raise fail(case, "x unchanged after the call", f"x changed by up to {(x - before).abs().max():.3g}",
                           "perturb a copy (x.clone()), or put each element back after the two evaluations")
            if problem := tensor_problem(got, want, atol=1e-6, rtol=1e-6):
                hint = ("same shape as x: one derivative per element" if "shape" in problem else
                        "central difference: (f(x + h e_i) - f(x - h e_i)) / (2 h), with h added to ONE element "
                        "at a time; a forward difference (f(x + h e_i) - f(x)) / h is not accurate enough")
                raise fail(case, show(want, 150), show(got, 150), f"{problem}; {hint}")

    return run_check("numerical_grad", trials, body)


# --- Exercise 3: the backward pass of a small network, by hand ------------------------------------------------
def _network_case(rng: random.Random, gen: torch.Generator) -> tuple[dict[str, torch.Tensor], str]:
    n, d, hidden, classes = rng.randint(1, 9), rng.randint(1, 6), rng.randint(1, 7), rng.randint(2, 5)
    tensors = {
        "X": torch.randn(n, d, generator=gen, dtype=torch.float64),
        "y": torch.randint(0, classes, (n,), generator=gen),
        "W1": torch.randn(d, hidden, generator=gen, dtype=torch.float64) / math.sqrt(d),
        "b1": torch.randn(hidden, generator=gen, dtype=torch.float64) * 0.1,
        "W2": torch.randn(hidden, classes, generator=gen, dtype=torch.float64),
        "b2": torch.randn(classes, generator=gen, dtype=torch.float64) * 0.1,
    }
    return tensors, f"N={n} examples, {d} inputs, {hidden} hidden units, {classes} classes (random float64)"


def _autograd_grads(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    params = {k: t[k].clone().requires_grad_() for k in ("W1", "b1", "W2", "b2")}
    logits = torch.tanh(t["X"] @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    grads = torch.autograd.grad(F.cross_entropy(logits, t["y"]), list(params.values()))
    return dict(zip(params, grads))


_HINTS = {
    "b2": "dlogits = (softmax(logits) - onehot(y)) / N, then db2 = dlogits.sum(0)",
    "W2": "dW2 = hidden.T @ dlogits, with hidden = tanh(X @ W1 + b1)",
    "b1": "through tanh: dpre = (dlogits @ W2.T) * (1 - hidden**2); db1 = dpre.sum(0)",
    "W1": "dW1 = X.T @ dpre, with dpre = (dlogits @ W2.T) * (1 - hidden**2)",
}


@exercise("02", "manual_grads")
def check_manual_grads(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``manual_grads(X, y, W1, b1, W2, b2)``: the gradients of the mean cross-entropy of
    ``logits = tanh(X @ W1 + b1) @ W2 + b2`` with respect to the four parameters, computed by hand (no autograd),
    returned as a dict ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}``. Compared with autograd on random sizes."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_manual_grads(manual_grads)")
        for _ in range(trials):
            tensors, described = _network_case(rng, gen)
            case = current["case"] = f"manual_grads(X, y, W1, b1, W2, b2) with {described}"
            want = _autograd_grads(tensors)
            got = fn(*(t.clone() for t in tensors.values()))
            if not isinstance(got, dict) or set(got) != set(want):
                keys = sorted(got) if isinstance(got, dict) else type(got).__name__
                raise fail(case, "a dict with keys ['W1', 'W2', 'b1', 'b2']", keys,
                           'return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}')
            for name in ("b2", "W2", "b1", "W1"):  # the order backpropagation computes them in
                if problem := tensor_problem(got[name], want[name], atol=1e-9, rtol=1e-7):
                    raise fail(f"{case}; gradient of {name}", show(want[name], 150), show(got[name], 150),
                               f"{problem}; {_HINTS[name]}")

    return run_check("manual_grads", trials, body)


# --- Exercise 4: an SGD step ----------------------------------------------------------------------------------
@exercise("02", "sgd_step")
def check_sgd_step(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``sgd_step(params, lr)``: for every parameter with a gradient, ``p -= lr * p.grad`` **in place**
    (the same tensor object, still a leaf that requires grad), then reset its gradient (``p.grad = None`` or
    zeros) so the next ``backward`` starts fresh; parameters without a gradient (frozen) are left alone."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_sgd_step(sgd_step)")
        for trial in range(trials):
            params = [torch.randn(_shape(rng), generator=gen).requires_grad_() for _ in range(rng.randint(1, 4))]
            frozen = trial % 3 == 2
            if frozen:
                params.append(torch.randn(3, generator=gen).requires_grad_())  # no gradient will reach it
            loss = sum((((p - 1) ** 2 * rng.uniform(0.5, 2)).sum() for p in params[: len(params) - frozen]),
                       torch.zeros(()))
            loss.backward()
            lr = rng.choice([0.1, 0.01, 0.5])
            before = [(p, p.detach().clone(), None if p.grad is None else p.grad.clone()) for p in params]
            case = current["case"] = (f"sgd_step(params, lr={lr}) with {len(params)} parameters of shapes "
                                      f"{[tuple(p.shape) for p in params]}" + (", the last one without a .grad"
                                                                                if frozen else ""))
            try:
                fn(params, lr)
            except RuntimeError as error:
                if "leaf Variable that requires grad" in str(error):
                    raise fail(case, "an in-place update", f"RuntimeError: {str(error)[:90]}...",
                               "do the update inside `with torch.no_grad():` (autograd must not record it)") from None
                raise
            for i, (p, value, grad) in enumerate(before):
                if params[i] is not p or not p.is_leaf or not p.requires_grad:
                    raise fail(case, "the same leaf tensors, still requiring grad", f"parameter {i} replaced",
                               "update in place (p -= lr * p.grad), never p = p - ...: that only renames")
                want = value if grad is None else value - lr * grad
                if problem := tensor_problem(p.detach(), want):
                    raise fail(f"{case}; parameter {i}", show(want, 120), show(p.detach(), 120),
                               f"{problem}: p -= lr * p.grad, in place" + ("; skip parameters whose .grad is None"
                                                                           if grad is None else ""))
                if grad is not None and p.grad is not None and bool(p.grad.any()):
                    raise fail(f"{case}; parameter {i}.grad after the step", "None (or zeros)", show(p.grad, 120),
                               "reset the gradient (p.grad = None), or the next backward adds to the old one")

    return run_check("sgd_step", trials, body)


# --- Exercise 5 (find the bug): one step from several micro-batches ---------------------------------------------
def _mse(params: list[torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The checker's loss: mean squared error of a linear model ``inputs @ w + b``."""
    w, b = params
    return ((inputs @ w + b - targets) ** 2).mean()


def _step_from(params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> list[torch.Tensor]:
    return [p.detach() - lr * g for p, g in zip(params, grads)]


@exercise("02", "accumulated_step")
def check_accumulated_step(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``accumulated_step(params, micro_batches, loss_fn, lr)``: one SGD step (in place) with the gradient
    of the **whole** batch's mean loss, computed from equal-sized micro-batches one ``backward`` at a time; the
    gradients are reset afterwards, and gradients left over from earlier ``backward`` calls must not count."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_accumulated_step(accumulated_step)")
        for trial in range(trials):
            d, k, n_micro, size = rng.randint(1, 4), rng.randint(1, 3), rng.randint(2, 4), rng.randint(1, 5)
            w = torch.randn(d, k, generator=gen).requires_grad_()
            b = torch.randn(k, generator=gen).requires_grad_()
            inputs = torch.randn(n_micro * size, d, generator=gen)
            targets = torch.randn(n_micro * size, k, generator=gen)
            micro = [(inputs[i : i + size], targets[i : i + size]) for i in range(0, n_micro * size, size)]
            lr = rng.choice([0.1, 0.05, 0.2])
            stale = trial % 3 == 2
            if stale:  # an earlier backward left gradients behind
                (w.sum() + b.sum()).backward()
            full = torch.autograd.grad(_mse([w, b], inputs, targets), [w, b])
            last = torch.autograd.grad(_mse([w, b], *micro[-1]), [w, b])
            want = _step_from([w, b], list(full), lr)
            before = [w.detach().clone(), b.detach().clone()]
            case = current["case"] = (f"accumulated_step([w {tuple(w.shape)}, b {tuple(b.shape)}], {n_micro} "
                                      f"micro-batches of {size}, mse, lr={lr})"
                                      + (", with gradients left in .grad by an earlier backward" if stale else ""))
            params = [w, b]
            fn(params, micro, _mse, lr)
            if params[0] is not w or params[1] is not b or not (w.is_leaf and b.is_leaf):
                raise fail(case, "the same leaf tensors, updated in place", "parameters replaced",
                           "update in place under torch.no_grad(): p -= lr * p.grad")
            got = [w.detach(), b.detach()]
            if all(tensor_problem(g, t, atol=1e-5) is None for g, t in zip(got, want)):
                if any(p.grad is not None and bool(p.grad.any()) for p in params):
                    raise fail(f"{case}; .grad after the step", "None (or zeros)", show(w.grad, 80),
                               "reset the gradients after the step, or the next call starts from them")
                continue

            def close(candidate: list[torch.Tensor], got: list[torch.Tensor] = got) -> bool:
                return all(tensor_problem(g, c, atol=1e-5) is None for g, c in zip(got, candidate))

            hint = "reset .grad once, backward each micro-batch's loss / number of micro-batches, then one step"
            if close(_step_from(before, list(last), lr)):
                hint = ("only the last micro-batch counted: a reset inside the loop throws away what the earlier "
                        "backward calls accumulated. Reset once, before the loop")
            elif close(_step_from(before, [n_micro * g for g in full], lr)):
                hint = (f"the step is {n_micro} times too big: backward adds the micro-batches' gradients, so divide "
                        "each micro-batch's loss by the number of micro-batches (the whole batch's mean)")
            elif stale:
                hint = "start from clean gradients: reset .grad before the first backward (something left some there)"
            raise fail(case, show(want[0], 80), show(got[0], 80), hint)

    return run_check("accumulated_step", trials, body)
