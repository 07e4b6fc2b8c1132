"""Notebook 02's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb02 import (
    check_accumulated_step,
    check_manual_grads,
    check_numerical_grad,
    check_sgd_step,
    check_softplus_backward,
)


# --- softplus backward ----------------------------------------------------------------------------------------
def softplus_function(backward):
    class Softplus(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return F.softplus(x)

    Softplus.backward = staticmethod(backward)
    return Softplus


def right(ctx, grad_output):
    (x,) = ctx.saved_tensors
    return grad_output * torch.sigmoid(x)


def stable(ctx, grad_output):
    (x,) = ctx.saved_tensors
    return grad_output * torch.exp(x) / (1 + torch.exp(x))


def no_upstream(ctx, grad_output):
    (x,) = ctx.saved_tensors
    return torch.sigmoid(x)


def derivative_of_exp(ctx, grad_output):
    (x,) = ctx.saved_tensors
    return grad_output * torch.exp(x)


@pytest.mark.parametrize("backward", [right, stable])
def test_softplus_backward_accepts_correct_answers(backward) -> None:
    assert_accepted(check_softplus_backward, softplus_function(backward))


@pytest.mark.parametrize(
    ("candidate", "fragments"),
    [
        (softplus_function(lambda ctx, g: stub()), ["not written yet"]),
        (softplus_function(no_upstream), ["upstream gradient is missing", "chain rule"]),
        (softplus_function(derivative_of_exp), ["sigmoid(x)", "values differ", "input:", "expected:", "got:"]),
        (softplus_function(lambda ctx, g: None), ["your code raised RuntimeError"]),
        (torch.sigmoid, ["pass the autograd.Function class"]),
    ],
)
def test_softplus_backward_rejects_wrong_answers(candidate, fragments: list[str]) -> None:
    assert_rejected(check_softplus_backward(candidate, seed=0), *fragments)


# --- numerical_grad -------------------------------------------------------------------------------------------
def numerical_grad(f, x, h=1e-6):
    grad = torch.zeros_like(x)
    flat, out = x.clone().flatten(), grad.view(-1)
    for i in range(flat.numel()):
        up, down = flat.clone(), flat.clone()
        up[i] += h
        down[i] -= h
        out[i] = (f(up.view_as(x)) - f(down.view_as(x))) / (2 * h)
    return grad


def numerical_grad_in_place(f, x, h=1e-6):  # perturbs x itself and restores it: also correct
    grad = torch.zeros_like(x)
    for index in torch.cartesian_prod(*[torch.arange(n) for n in x.shape]).reshape(-1, x.ndim).tolist():
        index = tuple(index)
        old = x[index].item()
        x[index] = old + h
        up = f(x)
        x[index] = old - h
        down = f(x)
        x[index] = old
        grad[index] = (up - down) / (2 * h)
    return grad


def forward_difference(f, x, h=1e-6):
    grad = torch.zeros_like(x)
    flat = x.flatten()
    for i in range(flat.numel()):
        up = flat.clone()
        up[i] += h
        grad.view(-1)[i] = (f(up.view_as(x)) - f(x)) / h
    return grad


def never_restores(f, x, h=1e-6):
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    for i in range(flat.numel()):
        flat[i] += h
        up = f(x)
        flat[i] -= 2 * h
        grad.view(-1)[i] = (up - f(x)) / (2 * h)  # forgets to add h back
    return grad


def perturbs_everything(f, x, h=1e-6):
    return torch.full_like(x, ((f(x + h) - f(x - h)) / (2 * h)).item())


@pytest.mark.parametrize("fn", [numerical_grad, numerical_grad_in_place])
def test_numerical_grad_accepts_correct_answers(fn) -> None:
    assert_accepted(check_numerical_grad, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (forward_difference, ["forward difference", "not accurate enough"]),
        (never_restores, ["x unchanged after the call", "x.clone()"]),
        (perturbs_everything, ["h added to ONE element at a time"]),
        (lambda f, x, h: numerical_grad(f, x, h).flatten(), ["shape"]),
    ],
)
def test_numerical_grad_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_numerical_grad(fn, seed=3), *fragments)


# --- manual_grads ---------------------------------------------------------------------------------------------
def manual_grads(X, y, W1, b1, W2, b2, tanh_derivative=True, divide=True):
    hidden = torch.tanh(X @ W1 + b1)
    logits = hidden @ W2 + b2
    dlogits = logits.softmax(dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)
    if divide:
        dlogits = dlogits / len(y)
    dpre = (dlogits @ W2.T) * ((1 - hidden**2) if tanh_derivative else 1)
    return {"W1": X.T @ dpre, "b1": dpre.sum(0), "W2": hidden.T @ dlogits, "b2": dlogits.sum(0)}


def test_manual_grads_accepts_the_reference() -> None:
    assert_accepted(check_manual_grads, manual_grads)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda *a: manual_grads(*a, divide=False), ["gradient of b2", "/ N"]),
        (lambda *a: manual_grads(*a, tanh_derivative=False), ["gradient of b1", "1 - hidden**2"]),
        (lambda *a: list(manual_grads(*a).values()), ["a dict with keys", "got:      list"]),
        (lambda *a: {k.lower(): v for k, v in manual_grads(*a).items()}, ["a dict with keys", "'w1'"]),
    ],
)
def test_manual_grads_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_manual_grads(fn, seed=4), *fragments)


# --- sgd_step -------------------------------------------------------------------------------------------------
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
                p.grad = None


def sgd_step_zero(params, lr):
    for p in params:
        if p.grad is not None:
            p.data.add_(p.grad, alpha=-lr)
            p.grad.zero_()


def sgd_no_reset(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def sgd_rebinds(params, lr):
    for p in params:
        if p.grad is not None:
            p = p - lr * p.grad  # the bug on purpose: rebinding the name, not updating the tensor
            p.grad = None


def sgd_recording(params, lr):
    for p in params:
        if p.grad is not None:
            p -= lr * p.grad


def sgd_frozen_crash(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


@pytest.mark.parametrize("fn", [sgd_step, sgd_step_zero])
def test_sgd_step_accepts_correct_answers(fn) -> None:
    assert_accepted(check_sgd_step, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (sgd_no_reset, ["grad after the step", "p.grad = None"]),
        (sgd_rebinds, ["p -= lr * p.grad, in place"]),
        (sgd_recording, ["torch.no_grad()"]),
        (sgd_frozen_crash, ["your code raised TypeError", "without a .grad"]),
    ],
)
def test_sgd_step_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_sgd_step(fn, seed=5), *fragments)


# --- accumulated_step (find the bug) ----------------------------------------------------------------------------
def accumulated_step(params, micro_batches, loss_fn, lr):
    for p in params:
        p.grad = None
    for inputs, targets in micro_batches:
        (loss_fn(params, inputs, targets) / len(micro_batches)).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def accumulated_step_grad_scaled(params, micro_batches, loss_fn, lr):  # another correct answer: scale the sum
    for p in params:
        p.grad = None
    for inputs, targets in micro_batches:
        loss_fn(params, inputs, targets).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad / len(micro_batches)
            p.grad = None


def accumulated_step_buggy(params, micro_batches, loss_fn, lr):  # the notebook's bug: a reset inside the loop
    for inputs, targets in micro_batches:
        for p in params:
            p.grad = None
        loss_fn(params, inputs, targets).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def accumulated_step_no_mean(params, micro_batches, loss_fn, lr):  # a wrong fix: the reset moved, no division
    for p in params:
        p.grad = None
    for inputs, targets in micro_batches:
        loss_fn(params, inputs, targets).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def accumulated_step_no_reset(params, micro_batches, loss_fn, lr):  # a wrong fix: the reset removed
    for inputs, targets in micro_batches:
        (loss_fn(params, inputs, targets) / len(micro_batches)).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def accumulated_step_keeps_grads(params, micro_batches, loss_fn, lr):
    for p in params:
        p.grad = None
    for inputs, targets in micro_batches:
        (loss_fn(params, inputs, targets) / len(micro_batches)).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad


@pytest.mark.parametrize("fn", [accumulated_step, accumulated_step_grad_scaled])
def test_accumulated_step_accepts_correct_answers(fn) -> None:
    assert_accepted(check_accumulated_step, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (accumulated_step_buggy, ["input:", "only the last micro-batch counted"]),
        (accumulated_step_no_mean, ["times too big", "divide each micro-batch's loss"]),
        (accumulated_step_no_reset, ["earlier backward", "start from clean gradients"]),
        (accumulated_step_keeps_grads, [".grad after the step", "reset the gradients after the step"]),
    ],
)
def test_accumulated_step_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_accumulated_step(fn, seed=0), *fragments)
