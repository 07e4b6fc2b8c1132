"""Notebook 12's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import functools
import math
import random
import time

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch import nn

from course_utils.practice.checks.nb12 import (
    check_causal_lm_loss,
    check_completion_labels,
    check_group_advantages,
    check_lora_linear,
    check_merge_lora,
)


# --- lora_linear ----------------------------------------------------------------------------------------------
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) / r**0.5)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T


class LoRALinearKaiming(nn.Module):  # PEFT's initialisation, the update written with F.linear
    def __init__(self, base, r, alpha):
        super().__init__()
        for p in base.parameters():
            p.requires_grad = False
        self.base, self.r, self.alpha = base, r, alpha
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + nn.functional.linear(nn.functional.linear(x, self.A), self.B) * (self.alpha / self.r)


def lora_variant(**changes):
    """LoRALinear with one mistake: a different scale, B random, A zero, the base left trainable."""

    class Wrong(LoRALinear):
        def __init__(self, base, r, alpha):
            super().__init__(base, r, alpha)
            if "scale" in changes:
                self.scale = changes["scale"](r, alpha)
            if changes.get("b_random"):
                self.B = nn.Parameter(torch.randn(base.out_features, r))
            if changes.get("a_zero"):
                self.A = nn.Parameter(torch.zeros(r, base.in_features))
            if changes.get("base_trainable"):
                base.requires_grad_(True)

    return Wrong


class LoRAShapesSwapped(LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.A = nn.Parameter(torch.randn(base.in_features, r))
        self.B = nn.Parameter(torch.zeros(r, base.out_features))


class LoRAPlainTensors(LoRALinear):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        del self.A, self.B
        self.A = torch.randn(r, base.in_features)
        self.B = torch.zeros(base.out_features, r)


class LoRAStub(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        stub()


@pytest.mark.parametrize("cls", [LoRALinear, LoRALinearKaiming])
def test_lora_linear_accepts_correct_answers(cls) -> None:
    assert_accepted(check_lora_linear, cls)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (LoRAStub, ["not written yet"]),
        (lora_variant(scale=lambda r, alpha: r / alpha), ["alpha / r, not r / alpha"]),
        (lora_variant(scale=lambda r, alpha: 1.0), ["scaled by alpha / r"]),
        (lora_variant(b_random=True), ["B must start at zero"]),
        (lora_variant(a_zero=True), ["never learns"]),
        (lora_variant(base_trainable=True), ["freeze the base layer"]),
        (LoRAShapesSwapped, ["[r, in_features]"]),
        (LoRAPlainTensors, ["nn.Parameter"]),
        (LoRALinear(nn.Linear(2, 3), 1, 1.0), ["pass the class"]),
    ],
)
def test_lora_linear_rejects_wrong_answers(cls, fragments: list[str]) -> None:
    assert_rejected(check_lora_linear(cls, seed=1), *fragments)


# --- merge_lora -----------------------------------------------------------------------------------------------
def merge_lora(weight, A, B, alpha):
    return weight + (alpha / A.shape[0]) * B @ A


def merge_lora_einsum(weight, A, B, alpha):
    return weight.clone().addmm_(B, A, alpha=alpha / len(A))


def merge_in_place(weight, A, B, alpha):
    weight += (alpha / A.shape[0]) * B @ A
    return weight


@pytest.mark.parametrize("fn", [merge_lora, merge_lora_einsum])
def test_merge_lora_accepts_correct_answers(fn) -> None:
    assert_accepted(check_merge_lora, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (merge_in_place, ["changed weight in place"]),
        (lambda w, A, B, alpha: w + alpha * B @ A, ["divide alpha by the rank"]),
        (lambda w, A, B, alpha: (alpha / A.shape[0]) * B @ A, ["base weight PLUS"]),
        (lambda w, A, B, alpha: w + (alpha / A.shape[0]) * A.T @ B.T, ["your code raised RuntimeError", "input:"]),
        (lambda w, A, B, alpha: (w + (alpha / A.shape[0]) * B @ A).T, ["shape"]),
        (lambda w, A, B, alpha: None, ["return` missing"]),
    ],
)
def test_merge_lora_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_merge_lora(fn, seed=2), *fragments)


# --- completion_labels ----------------------------------------------------------------------------------------
def completion_labels(input_ids, attention_mask, prompt_lengths):
    positions = torch.arange(input_ids.shape[1])[None, :]
    return input_ids.masked_fill((positions < prompt_lengths[:, None]) | (attention_mask == 0), -100)


def completion_labels_loop(input_ids, attention_mask, prompt_lengths):
    labels = input_ids.clone()
    for b, n in enumerate(prompt_lengths.tolist()):
        labels[b, :n] = -100
    labels[attention_mask == 0] = -100
    return labels


def labels_in_place(input_ids, attention_mask, prompt_lengths):
    for b, n in enumerate(prompt_lengths.tolist()):
        input_ids[b, :n] = -100
    input_ids[attention_mask == 0] = -100
    return input_ids


@pytest.mark.parametrize("fn", [completion_labels, completion_labels_loop])
def test_completion_labels_accepts_correct_answers(fn) -> None:
    assert_accepted(check_completion_labels, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (labels_in_place, ["changed input_ids", "clone()"]),
        (lambda ids, mask, p: ids.masked_fill(torch.arange(ids.shape[1])[None] < p[:, None], -100),
         ["padding must be ignored"]),
        (lambda ids, mask, p: ids.masked_fill((torch.arange(ids.shape[1])[None] <= p[:, None]) | (mask == 0), -100),
         ["off by one"]),
        (lambda ids, mask, p: ids * ((torch.arange(ids.shape[1])[None] >= p[:, None]) & (mask == 1)),
         ["-100 (the ignore_index"]),
        (lambda ids, mask, p: ids.masked_fill(mask == 1, -100), ["input:", "expected:"]),
    ],
)
def test_completion_labels_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_completion_labels(fn, seed=3), *fragments)


# --- group_advantages -----------------------------------------------------------------------------------------
def group_advantages(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).flatten()


def group_advantages_loop(rewards, group_size):
    out = []
    for first in range(0, len(rewards), group_size):
        group = rewards[first : first + group_size].tolist()
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (len(group) - 1))
        out += [(r - mean) / (std + 1e-4) for r in group]
    return torch.tensor(out)


def population_std(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True, unbiased=False) + 1e-4)).flatten()


@pytest.mark.parametrize("fn", [group_advantages, group_advantages_loop])
def test_group_advantages_accepts_correct_answers(fn) -> None:
    assert_accepted(check_group_advantages, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda r, g: ((r.view(-1, g) - r.view(-1, g).mean(1, keepdim=True)) / r.view(-1, g).std(1, keepdim=True))
         .flatten(), ["add a small epsilon"]),
        (population_std, ["unbiased=False"]),
        (lambda r, g: (r - r.mean()) / (r.std() + 1e-4), ["within each group"]),
        (lambda r, g: (r.view(-1, g) - r.view(-1, g).mean(1, keepdim=True)).flatten(), ["divide by the group's std"]),
        (lambda r, g: group_advantages(r.view(g, -1).T.flatten(), g), ["input:", "expected:"]),
        (lambda r, g: r.view(-1, g), ["shape"]),
    ],
)
def test_group_advantages_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_group_advantages(fn, seed=4), *fragments)


# --- bad input and the time limit -----------------------------------------------------------------------------
def test_checkers_reject_bad_input_and_endless_loops_with_feedback(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.practice import grading
    from course_utils.practice.checks import nb12

    monkeypatch.setattr(nb12, "run_check", functools.partial(grading.run_check, time_limit=0.5))  # as 04, 06 ...
    assert_rejected(check_merge_lora("merge_lora", seed=0), "pass the function without calling it")
    assert_rejected(check_group_advantages(lambda r, g: [0.0] * len(r), seed=0), "a tensor is expected")
    assert_rejected(check_completion_labels(lambda i, m, p: 1 / 0, seed=0), "ZeroDivisionError", "input:")

    def forever(rewards, group_size):
        while True:
            time.sleep(0.01)

    start = time.perf_counter()
    result = check_group_advantages(forever, seed=0)
    assert_rejected(result, "time limit")
    assert time.perf_counter() - start < 5  # the limit (0.5 s) and the stop requests (up to 1 s): 20 s before


def test_checkers_leave_the_global_rng_alone_and_are_fast() -> None:
    torch.manual_seed(123)
    random.seed(123)
    expected_torch, expected_py = torch.rand(3), random.random()
    torch.manual_seed(123)
    random.seed(123)
    start = time.perf_counter()
    for checker, candidate in ((check_lora_linear, LoRALinear), (check_merge_lora, merge_lora),
                               (check_completion_labels, completion_labels),
                               (check_causal_lm_loss, causal_lm_loss),
                               (check_group_advantages, group_advantages)):
        assert checker(candidate, trials=3)
    assert time.perf_counter() - start < 10
    assert torch.equal(torch.rand(3), expected_torch) and random.random() == expected_py


# --- causal_lm_loss (find the bug) -----------------------------------------------------------------------------
def causal_lm_loss(logits, labels):
    return nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)


def causal_lm_loss_gather(logits, labels):
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return -(logp * mask).sum() / mask.sum()


def lm_loss_unshifted(logits, labels):  # the bug the learner is given
    return nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def lm_loss_per_sequence(logits, labels):
    return torch.stack([nn.functional.cross_entropy(lg[:-1], lb[1:], ignore_index=-100)
                        for lg, lb in zip(logits, labels)]).mean()


@pytest.mark.parametrize("fn", [causal_lm_loss, causal_lm_loss_gather])
def test_causal_lm_loss_accepts_correct_answers(fn) -> None:
    assert_accepted(check_causal_lm_loss, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lm_loss_unshifted, ["off by one", "predicts token t + 1"]),
        (lambda lg, lb: nn.functional.cross_entropy(lg[:, 1:].flatten(0, 1), lb[:, :-1].flatten()),
         ["shifted the wrong way"]),
        (lm_loss_per_sequence, ["not a mean of per-sequence means"]),
        (lambda lg, lb: nn.functional.cross_entropy(lg[:, :-1].flatten(0, 1), lb[:, 1:].flatten(), reduction="sum"),
         ["not their sum"]),
        (lambda lg, lb: torch.tensor(causal_lm_loss(lg, lb).item()), ["backward()"]),
        (lambda lg, lb: causal_lm_loss(lg, lb).item(), ["a tensor is expected"]),
        (lambda lg, lb: nn.functional.cross_entropy(lg[:, :-1].flatten(0, 1), lb[:, 1:].flatten(),
                                                    reduction="none"), ["shape"]),
    ],
)
def test_causal_lm_loss_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_causal_lm_loss(fn, seed=5), *fragments)
