"""Checkers for notebook 12b (preference optimization): preference pairs from scored completions, the
Bradley-Terry loss, the log-probability of a completion, and the DPO loss (find the bug). Every case is a small
random tensor or list built here: no model is loaded."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
from torch.nn import functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import (
    CheckResult,
    exercise,
    fail,
    require_callable,
    run_check,
    show,
    tensor_problem,
)


def _pairs_want(scores: list[float], group_size: int, min_margin: float, strict: bool = True) -> list[tuple[int, int]]:
    """The reference: per group, (index of the best, index of the worst) when best - worst >= min_margin and
    (``strict``) best > worst."""
    pairs = []
    for first in range(0, len(scores), group_size):
        group = scores[first : first + group_size]
        best = max(range(group_size), key=lambda i: group[i])
        worst = min(range(group_size), key=lambda i: group[i])
        if (group[best] > group[worst] or not strict) and group[best] - group[worst] >= min_margin:
            pairs.append((first + best, first + worst))
    return pairs


def _as_pairs(got: object) -> list[tuple[int, int]] | None:
    """The learner's answer as a list of (int, int), or None when it is not shaped like one."""
    try:
        out = [(int(c), int(r)) for c, r in got]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out


# --- Exercise 1: preference pairs from scored completions ----------------------------------------------------------
@exercise("12b", "preference_pairs")
def check_preference_pairs(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``preference_pairs(scores, group_size, min_margin)``: ``scores`` (a list of floats) holds consecutive
    groups of ``group_size`` completions of the same prompt. For each group, in order, return the pair
    ``(chosen, rejected)`` of indices into ``scores``: its best-scored and its worst-scored completion, kept only
    when their scores differ by at least ``min_margin`` (and differ at all)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_preference_pairs(preference_pairs)")
        for trial in range(trials):
            groups, size = rng.randint(2, 5), rng.choice([2, 3, 4])
            scores = [round(rng.random(), 3) for _ in range(groups * size)]
            if trial % 2 == 0:  # one group whose completions all scored the same: it teaches nothing
                g = rng.randrange(groups)
                scores[g * size : (g + 1) * size] = [scores[g * size]] * size
            if trial % 3 == 1:  # one group whose best and worst are close: below the margin
                g = rng.randrange(groups)
                base = round(rng.uniform(0.2, 0.7), 3)
                scores[g * size : (g + 1) * size] = [round(base + 0.01 * i, 3) for i in range(size)]
            margin = rng.choice([0.0, 0.05, 0.1]) if trial else 0.0
            case = current["case"] = f"preference_pairs(scores={scores}, group_size={size}, min_margin={margin})"
            want = _pairs_want(scores, size, margin)
            got = fn(list(scores), size, margin)
            pairs = _as_pairs(got)
            if pairs is None:
                raise fail(case, want, got, "return a list of (chosen, rejected) index pairs, e.g. [(1, 0), (5, 3)]")
            if pairs == want:
                continue
            hint = "per group of group_size: (index of its highest score, index of its lowest), indices into scores"
            local = [(c - (c // size) * size, r - (r // size) * size) for c, r in want]
            flipped = [(r, c) for c, r in want]
            no_margin = _pairs_want(scores, size, 0.0)
            ties_kept = _pairs_want(scores, size, margin, strict=False)
            if pairs == local and local != want:
                hint = "return indices into the whole scores list (group * group_size + position), not within a group"
            elif pairs == flipped:
                hint = "chosen is the completion the classifier scores HIGHER: (best, worst), not (worst, best)"
            elif pairs == ties_kept or pairs == _pairs_want(scores, size, 0.0, strict=False):
                hint = ("a group whose completions all scored the same has no preference (best == worst): leave "
                        "it out")
            elif pairs == no_margin:
                hint = "leave out groups whose best and worst differ by less than min_margin"
            raise fail(case, want, got, hint)

    return run_check("preference_pairs", trials, body)


# --- Exercise 2: the Bradley-Terry loss --------------------------------------------------------------------------
@exercise("12b", "bradley_terry_loss")
def check_bradley_terry_loss(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``bradley_terry_loss(r_chosen, r_rejected)``: the mean over pairs of ``-log sigmoid(r_chosen -
    r_rejected)``, a scalar tensor that stays connected to both inputs and is finite even when a reward model
    is very wrong (a difference of -150: ``torch.log(torch.sigmoid(d))`` gives -inf there, ``F.logsigmoid``
    does not)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_bradley_terry_loss(bradley_terry_loss)")
        for trial in range(trials):
            n = rng.randint(1, 6)
            chosen = torch.randn(n, generator=gen) * 2
            rejected = torch.randn(n, generator=gen) * 2
            if trial % 3 == 2:  # a reward model that is very sure, and very wrong, on one pair
                rejected[rng.randrange(n)] += 150.0
            case = current["case"] = (f"bradley_terry_loss(r_chosen={[round(v, 2) for v in chosen.tolist()]}, "
                                      f"r_rejected={[round(v, 2) for v in rejected.tolist()]})")
            want = -F.logsigmoid(chosen - rejected).mean()
            c, r = chosen.clone().requires_grad_(True), rejected.clone().requires_grad_(True)
            got = fn(c, r)
            if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.requires_grad:
                raise fail(case, f"a scalar tensor connected to the rewards: {want.item():.4f}", show(got),
                           "keep the loss a tensor computed from r_chosen and r_rejected (no .item()): "
                           "training calls backward() on it")
            if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got.detach()).all()):
                raise fail(case, want, got, "-log(sigmoid(d)) overflows for a large negative d (sigmoid(-150) "
                           "is 0 in float32, its log -inf): use F.logsigmoid(d), which stays finite")
            if isinstance(got, torch.Tensor) and got.dim() == 1 and got.numel() == 1:
                got = got.reshape(())
            if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
                hint = "the mean over pairs of -F.logsigmoid(r_chosen - r_rejected)"
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    value = got.detach().double().reshape(())
                    d = (chosen - rejected).double()
                    wrong = {
                        "the difference is r_chosen - r_rejected: the chosen completion should get the higher "
                        "reward": -F.logsigmoid(-d).mean(),
                        "the loss is MINUS log sigmoid (a probability's log is negative; the loss must be "
                        "positive)": F.logsigmoid(d).mean(),
                        "the mean over pairs, not the sum": -F.logsigmoid(d).sum(),
                        "log sigmoid of the difference of rewards, not the difference of log sigmoids":
                            (-F.logsigmoid(chosen.double()) + F.logsigmoid(rejected.double())).mean(),
                    }
                    for text, candidate in wrong.items():
                        if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
                            hint = text
                            break
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("bradley_terry_loss", trials, body)


# --- Exercise 3: the log-probability of a completion ------------------------------------------------------------
def _sequence_case(rng: random.Random, gen: torch.Generator,
                   confident: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random logits [B, T, V], input_ids [B, T] and a completion_mask [B, T]: 0 on a prompt prefix, 1 on the
    completion, 0 on right padding (TRL's preference collator's layout)."""
    batch, length, vocab = rng.randint(2, 4), rng.randint(6, 10), rng.randint(5, 11)
    ids = torch.randint(0, vocab, (batch, length), generator=gen)
    mask = torch.zeros(batch, length, dtype=torch.long)
    for b in range(batch):
        prompt = rng.randint(1, length - 3)
        end = length - rng.randint(0 if b else 1, 2)  # at least one row is padded
        mask[b, prompt:end] = 1
    logits = torch.randn(batch, length, vocab, generator=gen)
    if confident:
        logits[:, :-1].scatter_(-1, ids[:, 1:, None], 8.0)
    return logits, ids, mask


@exercise("12b", "completion_logps")
def check_completion_logps(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``completion_logps(logits, input_ids, completion_mask)``: ``logits`` [B, T, V] of a causal LM,
    ``input_ids`` [B, T], ``completion_mask`` [B, T] (1 on completion tokens, 0 on prompt and padding). Return [B]:
    for each sequence the SUM of log p(token t | tokens < t) over its completion tokens; the logit at position
    t - 1 predicts token t. Connected to ``logits`` (DPO's gradient flows through it)."""
    rng, gen = random_sources(seed)

    def logps(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits.double(), -1).gather(-1, ids[..., None]).squeeze(-1) * mask

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_completion_logps(completion_logps)")
        for trial in range(trials):
            logits, ids, mask = _sequence_case(rng, gen, confident=trial % 2 == 0)
            case = current["case"] = (f"completion_logps(logits of shape {tuple(logits.shape)}"
                                      f"{' (each position sure of the NEXT token)' if trial % 2 == 0 else ''}, "
                                      f"input_ids={ids.tolist()}, completion_mask={mask.tolist()})")
            want = logps(logits[:, :-1], ids[:, 1:], mask[:, 1:]).sum(1)
            leaf = logits.clone().requires_grad_(True)
            got = fn(leaf, ids.clone(), mask.clone())
            if isinstance(got, torch.Tensor) and got.shape == want.shape and not got.requires_grad:
                raise fail(case, "a tensor [B] connected to logits", show(got),
                           "compute it from logits with torch operations (no .item(), no torch.tensor(...)): "
                           "DPO's gradient flows through these log-probabilities")
            if problem := tensor_problem(got, want.float(), atol=1e-4, rtol=1e-4):
                hint = ("log_softmax(logits[:, :-1]), gather input_ids[:, 1:], multiply by completion_mask[:, 1:], "
                        "sum over positions")
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    value = got.detach().double()
                    ones = torch.ones_like(mask)
                    wrong = {
                        "you summed over the prompt and the padding too: only completion tokens count "
                        "(multiply by completion_mask[:, 1:] before the sum)": logps(logits[:, :-1], ids[:, 1:],
                                                                                     ones[:, 1:]).sum(1),
                        "off by one: the logit at position t - 1 predicts token t, so score logits[:, :-1] "
                        "against input_ids[:, 1:] (and completion_mask[:, 1:])": logps(logits, ids, mask).sum(1),
                        "the mask must be shifted like the tokens: completion_mask[:, 1:], not [:, :-1]":
                            logps(logits[:, :-1], ids[:, 1:], mask[:, :-1]).sum(1),
                        "the SUM over completion tokens (log p of the whole completion), not the mean": (
                            logps(logits[:, :-1], ids[:, 1:], mask[:, 1:]).sum(1) / mask[:, 1:].sum(1)),
                    }
                    for text, candidate in wrong.items():
                        if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
                            hint = text
                            break
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("completion_logps", trials, body)


# --- Exercise 4 (find the bug): the DPO loss ---------------------------------------------------------------------
@exercise("12b", "dpo_loss")
def check_dpo_loss(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)``: four [N] tensors of
    sequence log-probabilities (policy and reference, chosen and rejected completions). Return the mean over
    pairs of ``-log sigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))``, a
    scalar connected to the policy's log-probabilities; when the policy is the reference it is log 2."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_dpo_loss(dpo_loss)")
        for trial in range(trials):
            n = rng.randint(2, 6)
            beta = rng.choice([0.1, 0.5, 1.0, 0.05])
            ref_c = -torch.rand(n, generator=gen) * 30 - 5  # log-probs of whole completions: tens of nats
            ref_r = -torch.rand(n, generator=gen) * 30 - 5
            at_start = trial == 0 or trial % 4 == 3  # the policy IS the reference: DPO's first step
            pol_c = ref_c.clone() if at_start else ref_c + torch.randn(n, generator=gen) * 3
            pol_r = ref_r.clone() if at_start else ref_r + torch.randn(n, generator=gen) * 3
            show_list = lambda t: [round(v, 2) for v in t.tolist()]  # noqa: E731
            case = current["case"] = (f"dpo_loss(policy_chosen={show_list(pol_c)}, policy_rejected="
                                      f"{show_list(pol_r)}, ref_chosen={show_list(ref_c)}, ref_rejected="
                                      f"{show_list(ref_r)}, beta={beta})"
                                      + (" -- the policy is the reference" if at_start else ""))
            margin = (pol_c - ref_c) - (pol_r - ref_r)
            want = -F.logsigmoid(beta * margin.double()).mean().float()
            pc, pr = pol_c.clone().requires_grad_(True), pol_r.clone().requires_grad_(True)
            got = fn(pc, pr, ref_c.clone(), ref_r.clone(), beta)
            if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.requires_grad:
                raise fail(case, f"a scalar tensor connected to the policy's log-probs: {want.item():.4f}",
                           show(got), "compute the loss from the tensors with torch operations (no .item())")
            if isinstance(got, torch.Tensor) and got.dim() == 1 and got.numel() == 1:
                got = got.reshape(())
            if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
                hint = ("the mean of -F.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - "
                        "ref_rejected)))")
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    value = got.detach().double().reshape(())
                    d = margin.double()
                    no_ref = (pol_c - pol_r).double()
                    wrong = {
                        "the reference model is missing: DPO compares LOG-RATIOS policy - reference, so that the "
                        "loss is log 2 while the policy is still the reference and only a CHANGE in preference "
                        "counts": -F.logsigmoid(beta * no_ref).mean(),
                        "the log-ratios are policy - reference for BOTH completions: (policy_chosen - ref_chosen)"
                        " - (policy_rejected - ref_rejected)": -F.logsigmoid(
                            beta * ((pol_c - ref_c) - (ref_r - pol_r)).double()).mean(),
                        "beta scales the margin INSIDE the sigmoid: -logsigmoid(beta * margin)":
                            -beta * F.logsigmoid(d).mean(),
                        "chosen minus rejected, not the other way round: the loss must fall as the chosen "
                        "completion gains on the rejected one": -F.logsigmoid(-beta * d).mean(),
                        "the mean over pairs (as TRL), not the sum": -F.logsigmoid(beta * d).sum(),
                    }
                    for text, candidate in wrong.items():
                        if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
                            hint = text
                            break
                    if at_start and hint.startswith("the mean of") and not math.isclose(
                            float(value), math.log(2), abs_tol=1e-4):
                        hint = ("here the policy is the reference, so every log-ratio is 0 and the loss must be "
                                "log 2 = 0.6931; " + hint)
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("dpo_loss", trials, body)
