"""Notebook 11's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb11 import (
    check_accumulate_gradients,
    check_accumulation_step,
    check_token_loss_sum,
    check_training_memory,
)

STATES = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}


# --- training_memory_bytes ------------------------------------------------------------------------------------
def training_memory_bytes(model, optimizer, bytes_per_value=4):
    every = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return bytes_per_value * (every + trainable * (1 + STATES[optimizer]))


def memory_per_tensor(model, optimizer, bytes_per_value=4):  # tensor by tensor: also right
    total = 0
    for p in model.parameters():
        values = 1 + ((1 + STATES[optimizer]) if p.requires_grad else 0)
        total += values * p.numel() * bytes_per_value
    return total


@pytest.mark.parametrize("fn", [training_memory_bytes, memory_per_tensor])
def test_training_memory_accepts_correct_answers(fn) -> None:
    assert_accepted(check_training_memory, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda m, o, b: b * sum(p.numel() for p in m.parameters()) * (2 + STATES[o]), ["frozen parameters"]),
        (lambda m, o, b: b * (sum(p.numel() for p in m.parameters())
                              + sum(p.numel() for p in m.parameters() if p.requires_grad)), ["optimizer state"]),
        (lambda m, o, b: b * 16 // 4 * sum(p.numel() for p in m.parameters()), ["expected:", "got:"]),
        (lambda m, o, b: training_memory_bytes(m, o, b) + 4 * sum(x.numel() for x in m.buffers()),
         ["buffers do not count"]),
    ],
)
def test_training_memory_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_training_memory(fn, seed=0), *fragments)


# --- accumulate_gradients -------------------------------------------------------------------------------------
def accumulate_gradients(model, loss_fn, inputs, targets, micro_batch_size):
    model.zero_grad()
    total = 0.0
    for xb, yb in zip(inputs.split(micro_batch_size), targets.split(micro_batch_size)):
        loss = loss_fn(model(xb), yb) * len(xb) / len(inputs)
        loss.backward()
        total += loss.item()
    return total


def accumulate_by_chunks(model, loss_fn, inputs, targets, micro_batch_size):  # another partition: also right
    for p in model.parameters():
        p.grad = None
    k = math.ceil(len(inputs) / micro_batch_size)
    total = torch.zeros((), dtype=inputs.dtype)
    for xb, yb in zip(inputs.chunk(k), targets.chunk(k)):
        loss = loss_fn(model(xb), yb) * len(xb) / len(inputs)
        loss.backward()
        total += loss.detach()
    return total


def divides_by_k(model, loss_fn, inputs, targets, micro_batch_size):
    model.zero_grad()
    chunks = list(zip(inputs.split(micro_batch_size), targets.split(micro_batch_size)))
    for xb, yb in chunks:
        (loss_fn(model(xb), yb) / len(chunks)).backward()
    return loss_fn(model(inputs), targets).item()


def not_scaled(model, loss_fn, inputs, targets, micro_batch_size):
    model.zero_grad()
    for xb, yb in zip(inputs.split(micro_batch_size), targets.split(micro_batch_size)):
        loss_fn(model(xb), yb).backward()
    return loss_fn(model(inputs), targets).item()


def keeps_old_gradients(model, loss_fn, inputs, targets, micro_batch_size):
    total = 0.0
    for xb, yb in zip(inputs.split(micro_batch_size), targets.split(micro_batch_size)):
        loss = loss_fn(model(xb), yb) * len(xb) / len(inputs)
        loss.backward()
        total += loss.item()
    return total


def steps_too(model, loss_fn, inputs, targets, micro_batch_size):
    total = accumulate_gradients(model, loss_fn, inputs, targets, micro_batch_size)
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    return total


@pytest.mark.parametrize("fn", [accumulate_gradients, accumulate_by_chunks])
def test_accumulate_gradients_accepts_correct_answers(fn) -> None:
    assert_accepted(check_accumulate_gradients, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (divides_by_k, ["len(micro-batch) / len(inputs)", "the gradients"]),
        (not_scaled, ["the gradients", "norm ratio"]),
        (keeps_old_gradients, ["clear the old gradients first"]),
        (steps_too, ["the parameters unchanged", "no optimizer step"]),
        (lambda *args: (accumulate_gradients(*args), None)[1], ["the returned loss"]),
    ],
)
def test_accumulate_gradients_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_accumulate_gradients(fn, seed=1), *fragments)


# --- token_loss_sum_and_count ---------------------------------------------------------------------------------
def token_loss_sum_and_count(logits, labels):
    flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    return F.cross_entropy(flat_logits, flat_labels, ignore_index=-100, reduction="sum"), int((labels != -100).sum())


def token_loss_by_hand(logits, labels):  # log-softmax and a mask: also right
    real = labels != -100
    log_probs = logits.log_softmax(dim=-1)
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * real).sum(), real.sum()


def mean_times_count(logits, labels):
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))  # mean, NaN when all padding
    count = int((labels != -100).sum())
    return loss * count, count


@pytest.mark.parametrize("fn", [token_loss_sum_and_count, token_loss_by_hand])
def test_token_loss_sum_accepts_correct_answers(fn) -> None:
    assert_accepted(check_token_loss_sum, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda z, y: (F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1)), int((y != -100).sum())),
         ["that is the mean"]),
        (lambda z, y: (token_loss_sum_and_count(z, y)[0], y.numel()), ["count only the real tokens"]),
        (mean_times_count, ["not NaN"]),
        (lambda z, y: (token_loss_sum_and_count(z, y)[0].item(), token_loss_sum_and_count(z, y)[1]),
         ["a tensor that requires grad", "no .item()"]),
        (lambda z, y: token_loss_sum_and_count(z, y)[0], ["a tuple (loss_sum, count)"]),
    ],
)
def test_token_loss_sum_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_token_loss_sum(fn, seed=2), *fragments)


# --- accumulation_step (find the bug: zero_grad inside the loop, loss not divided) ------------------------------
def accumulation_step(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    for inputs, targets in micro_batches:
        (loss_fn(model(inputs), targets) / len(micro_batches)).backward()
    optimizer.step()


def accumulation_step_set_to_none(model, optimizer, loss_fn, micro_batches):
    for p in model.parameters():
        p.grad = None
    losses = [loss_fn(model(x), y) for x, y in micro_batches]
    torch.stack(losses).mean().backward()
    optimizer.step()


def the_bug(model, optimizer, loss_fn, micro_batches):  # the notebook's buggy version
    for inputs, targets in micro_batches:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
    optimizer.step()


def zero_grad_moved_out_not_divided(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    for inputs, targets in micro_batches:
        loss_fn(model(inputs), targets).backward()
    optimizer.step()


def divided_but_zero_grad_inside(model, optimizer, loss_fn, micro_batches):
    for inputs, targets in micro_batches:
        optimizer.zero_grad()
        (loss_fn(model(inputs), targets) / len(micro_batches)).backward()
    optimizer.step()


def no_zero_grad(model, optimizer, loss_fn, micro_batches):
    for inputs, targets in micro_batches:
        (loss_fn(model(inputs), targets) / len(micro_batches)).backward()
    optimizer.step()


def no_step(model, optimizer, loss_fn, micro_batches):
    optimizer.zero_grad()
    for inputs, targets in micro_batches:
        (loss_fn(model(inputs), targets) / len(micro_batches)).backward()


@pytest.mark.parametrize("fn", [accumulation_step, accumulation_step_set_to_none])
def test_accumulation_step_accepts_correct_answers(fn) -> None:
    assert_accepted(check_accumulation_step, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (the_bug, ["LAST micro-batch", "zero_grad() inside the loop"]),
        (divided_but_zero_grad_inside, ["LAST micro-batch"]),
        (zero_grad_moved_out_not_divided, ["times too large", "divide each loss"]),
        (no_zero_grad, ["previous step's gradients leaked in"]),
        (no_step, ["did not move"]),
    ],
)
def test_accumulation_step_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_accumulation_step(fn, seed=1), *fragments)
