"""Notebook 13's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import functools

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch import nn

from course_utils.practice import grading
from course_utils.practice.checks import nb13
from course_utils.practice.checks.nb13 import (
    check_clipped_fp16_step,
    check_clipped_probabilities_no_break,
    check_unscale_gradients,
)


# --- unscale_gradients ----------------------------------------------------------------------------------------
def unscale_gradients(scaled_grads, scale):
    grads = [g.float() / scale for g in scaled_grads]
    return grads, not all(bool(torch.isfinite(g).all()) for g in scaled_grads)


def unscale_by_inverse(scaled_grads, scale):  # GradScaler multiplies by the inverse scale
    inverse = torch.tensor(1.0 / scale)
    found = torch.stack([(torch.isinf(g) | torch.isnan(g)).any() for g in scaled_grads]).any()
    return [g.to(torch.float32) * inverse for g in scaled_grads], found


@pytest.mark.parametrize("fn", [unscale_gradients, unscale_by_inverse])
def test_unscale_gradients_accepts_correct_answers(fn) -> None:
    assert_accepted(check_unscale_gradients, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda gs, s: ([g / s for g in gs], False), ["convert to float32 first"]),
        (lambda gs, s: ([g.float() * s for g in gs], False), ["do not multiply"]),
        (lambda gs, s: ([g.float() / s for g in gs], any(bool(torch.isinf(g).any()) for g in gs)), ["misses NaN"]),
        (lambda gs, s: [g.float() / s for g in gs], ["return (unscaled_grads, found_inf)"]),
    ],
)
def test_unscale_gradients_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_unscale_gradients(fn, seed=1), *fragments)


# --- clipped_probabilities_no_break ----------------------------------------------------------------------------
def clamp_always(model, images):
    return model(images).clamp(-5.0, 5.0).softmax(dim=-1)


def clamp_with_where(model, images):
    logits = model(images)
    return torch.where(logits.abs() > 5, 5.0 * logits.sign(), logits).softmax(dim=-1)


def with_the_branch(model, images):  # notebook 13's clipped_probabilities, graph break included
    logits = model(images)
    if logits.abs().max().item() > 5.0:
        logits = logits.clamp(-5.0, 5.0)
    return logits.softmax(dim=-1)


@pytest.mark.parametrize("fn", [clamp_always, clamp_with_where])
def test_no_break_accepts_correct_answers(fn) -> None:
    assert_accepted(check_clipped_probabilities_no_break, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (with_the_branch, ["0 graph breaks", "a Python `if`"]),
        (lambda model, images: model(images).softmax(dim=-1), ["clamp the logits"]),
        (lambda model, images: model(images).clamp(-5, 5).softmax(dim=0), ["values differ"]),
    ],
)
def test_no_break_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_clipped_probabilities_no_break(fn, seed=2), *fragments)


# --- clipped_fp16_step (find the bug) --------------------------------------------------------------------------
def fp16_step(model, optimizer, scaler, images, labels, max_norm, order="right"):
    optimizer.zero_grad()
    with torch.autocast(images.device.type, dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(images), labels)
    scaler.scale(loss).backward()
    if order in ("right", "no_update"):
        scaler.unscale_(optimizer)
    if order in ("right", "no_update", "bug"):
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if order == "by_hand":  # divides the gradients itself: scaler.step divides them again
        for p in model.parameters():
            p.grad /= scaler.get_scale()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if order == "bare_step":
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
    else:
        scaler.step(optimizer)
    if order == "clip_after_step":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if order != "no_update":
        scaler.update()
    return loss.item()


def clip_the_scaled_norm(model, optimizer, scaler, images, labels, max_norm):  # the same clip, in scaled units
    optimizer.zero_grad()
    with torch.autocast(images.device.type, dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(images), labels)
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * scaler.get_scale())
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


@pytest.mark.parametrize("fn", [fp16_step, clip_the_scaled_norm])
def test_clipped_fp16_step_accepts_correct_answers(fn) -> None:
    assert_accepted(check_clipped_fp16_step, fn)


@pytest.mark.parametrize(
    ("order", "fragments"),
    [
        ("bug", ["input:", "measured the *scaled* gradients"]),  # the student edition's code
        ("clip_after_step", ["the update is not clipped"]),
        ("none", ["the update is not clipped"]),
        ("by_hand", ["divided by the scale twice"]),
        ("bare_step", ["(float16 overflows at this scale)", "scaler.step(optimizer)"]),
        ("no_update", ["call scaler.update()"]),
    ],
)
def test_clipped_fp16_step_rejects_wrong_answers(order: str, fragments: list[str]) -> None:
    assert_rejected(check_clipped_fp16_step(functools.partial(fp16_step, order=order), seed=5), *fragments)


def test_clipped_fp16_step_rejects_a_stub() -> None:
    assert_rejected(check_clipped_fp16_step(stub), "not written yet")


# --- bad input, the global random state -----------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_unscale_gradients(unscale_gradients([torch.ones(1).half()], 2.0)), "something callable")
    assert_rejected(check_unscale_gradients(lambda gs, s: gs[0] @ torch.ones(7, 7)), "your code raised", "input:")

    def forever(scaled_grads, scale):
        while True:
            pass

    monkeypatch.setattr(nb13, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb13.check_unscale_gradients(forever), "time limit of 0.5 s", "unscale_gradients(")


def test_checkers_leave_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_unscale_gradients(unscale_gradients, seed=0, trials=2)
    check_clipped_fp16_step(fp16_step, seed=0, trials=2)
    assert torch.equal(torch.rand(3), expected)
