"""Notebook 12b's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch.nn import functional as F

from course_utils.practice.checks.nb12b import (
    check_bradley_terry_loss,
    check_completion_logps,
    check_dpo_loss,
    check_preference_pairs,
)


# --- preference_pairs -------------------------------------------------------------------------------------------
def pairs_ref(scores, group_size, min_margin):
    pairs = []
    for first in range(0, len(scores), group_size):
        group = torch.tensor(scores[first : first + group_size])
        best, worst = int(group.argmax()), int(group.argmin())
        if group[best] > group[worst] and group[best] - group[worst] >= min_margin:
            pairs.append((first + best, first + worst))
    return pairs


def test_preference_pairs_accepts_reference():
    assert_accepted(check_preference_pairs, pairs_ref)


def test_preference_pairs_rejects_stub():
    assert_rejected(check_preference_pairs(stub, trials=2, seed=0), "not written yet")


def test_preference_pairs_rejects_flipped():
    def flipped(scores, group_size, min_margin):
        return [(r, c) for c, r in pairs_ref(scores, group_size, min_margin)]

    assert_rejected(check_preference_pairs(flipped, trials=4, seed=0), "scores HIGHER")


def test_preference_pairs_rejects_local_indices():
    def local(scores, group_size, min_margin):
        return [(c % group_size, r % group_size) for c, r in pairs_ref(scores, group_size, min_margin)]

    assert_rejected(check_preference_pairs(local, trials=6, seed=0), "whole scores list")


def test_preference_pairs_rejects_ties_kept():
    def ties(scores, group_size, min_margin):
        out = []
        for first in range(0, len(scores), group_size):
            group = scores[first : first + group_size]
            best = max(range(group_size), key=lambda i: group[i])
            worst = min(range(group_size), key=lambda i: group[i])
            if group[best] - group[worst] >= min_margin:
                out.append((first + best, first + worst))
        return out

    assert_rejected(check_preference_pairs(ties, trials=4, seed=0), "no preference")


def test_preference_pairs_rejects_margin_ignored():
    assert_rejected(check_preference_pairs(lambda s, g, m: pairs_ref(s, g, 0.0), trials=10, seed=0), "min_margin")


# --- bradley_terry_loss -----------------------------------------------------------------------------------------
def test_bradley_terry_accepts_reference():
    assert_accepted(check_bradley_terry_loss, lambda c, r: -F.logsigmoid(c - r).mean())
    assert_accepted(check_bradley_terry_loss, lambda c, r: F.softplus(r - c).mean())


def test_bradley_terry_rejects_naive_log_sigmoid():
    result = check_bradley_terry_loss(lambda c, r: -torch.log(torch.sigmoid(c - r)).mean(), trials=6, seed=0)
    assert_rejected(result, "F.logsigmoid")


def test_bradley_terry_rejects_wrong_sign_and_sum():
    assert_rejected(check_bradley_terry_loss(lambda c, r: -F.logsigmoid(r - c).mean(), trials=2, seed=0),
                    "higher reward")
    assert_rejected(check_bradley_terry_loss(lambda c, r: -F.logsigmoid(c - r).sum(), trials=4, seed=1),
                    "not the sum")
    assert_rejected(check_bradley_terry_loss(lambda c, r: (-F.logsigmoid(c - r).mean()).item(), trials=2, seed=0),
                    "a tensor is expected")
    assert_rejected(check_bradley_terry_loss(lambda c, r: -F.logsigmoid(c - r).mean().detach(), trials=2, seed=0),
                    "backward")


# --- completion_logps -------------------------------------------------------------------------------------------
def logps_ref(logits, input_ids, completion_mask):
    token = torch.log_softmax(logits[:, :-1], -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    return (token * completion_mask[:, 1:]).sum(1)


def test_completion_logps_accepts_reference():
    assert_accepted(check_completion_logps, logps_ref)

    def via_cross_entropy(logits, input_ids, completion_mask):
        labels = input_ids[:, 1:].masked_fill(completion_mask[:, 1:] == 0, -100)
        ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels, reduction="none")
        return -ce.sum(1)

    assert_accepted(check_completion_logps, via_cross_entropy)


def test_completion_logps_rejects_padding_and_prompt_summed():
    def all_positions(logits, input_ids, completion_mask):
        return torch.log_softmax(logits[:, :-1], -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1).sum(1)

    assert_rejected(check_completion_logps(all_positions, trials=2, seed=0), "padding")


def test_completion_logps_rejects_unshifted_and_mean():
    def unshifted(logits, input_ids, completion_mask):
        return (torch.log_softmax(logits, -1).gather(-1, input_ids[..., None]).squeeze(-1) * completion_mask).sum(1)

    def mean(logits, input_ids, completion_mask):
        return logps_ref(logits, input_ids, completion_mask) / completion_mask[:, 1:].sum(1)

    def mask_unshifted(logits, input_ids, completion_mask):
        token = torch.log_softmax(logits[:, :-1], -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        return (token * completion_mask[:, :-1]).sum(1)

    assert_rejected(check_completion_logps(unshifted, trials=2, seed=0), "off by one")
    assert_rejected(check_completion_logps(mean, trials=2, seed=0), "not the mean")
    assert_rejected(check_completion_logps(mask_unshifted, trials=2, seed=0), "shifted like the tokens")


# --- dpo_loss (find the bug) ------------------------------------------------------------------------------------
def dpo_ref(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    return -F.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))).mean()


def dpo_buggy(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):  # the notebook's bug
    return -F.logsigmoid(beta * (policy_chosen - policy_rejected)).mean()


def test_dpo_loss_accepts_reference():
    assert_accepted(check_dpo_loss, dpo_ref)

    def as_difference_of_log_ratios(pc, pr, rc, rr, beta):
        return F.softplus(-beta * ((pc - pr) - (rc - rr))).mean()

    assert_accepted(check_dpo_loss, as_difference_of_log_ratios)


def test_dpo_loss_names_the_bug():
    assert_rejected(check_dpo_loss(dpo_buggy, trials=2, seed=0), "reference model is missing")


def test_dpo_loss_rejects_wrong_fixes():
    def ref_sign(pc, pr, rc, rr, beta):
        return -F.logsigmoid(beta * ((pc - rc) - (rr - pr))).mean()

    def beta_outside(pc, pr, rc, rr, beta):
        return -beta * F.logsigmoid((pc - rc) - (pr - rr)).mean()

    def summed(pc, pr, rc, rr, beta):
        return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).sum()

    assert_rejected(check_dpo_loss(ref_sign, trials=3, seed=0), "BOTH completions")
    assert_rejected(check_dpo_loss(beta_outside, trials=3, seed=0), "INSIDE the sigmoid")
    assert_rejected(check_dpo_loss(summed, trials=3, seed=0), "not the sum")
    assert_rejected(check_dpo_loss(stub, trials=2, seed=0), "not written yet")
