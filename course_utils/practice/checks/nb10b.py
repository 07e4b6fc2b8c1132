"""Checkers for notebook 10b (the translator): decoder inputs shifted right, label-smoothed cross-entropy that
ignores padding, and token-budget batching. References are PyTorch's ``F.cross_entropy`` and the rules each
function must keep."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem

IGNORE = -100  # the label the loss skips (padding)


# --- Exercise 1: decoder inputs -------------------------------------------------------------------------------
@exercise("10b", "shift_right")
def check_shift_right(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``shift_right(labels, bos_id, pad_id)``: the decoder's inputs for teacher forcing. ``labels`` is
    ``[batch, time]`` with ``-100`` at padded positions; the result starts every row with ``bos_id``, then the
    labels shifted one step right (the last one dropped), with ``-100`` replaced by ``pad_id``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_shift_right(shift_right)")
        for _ in range(trials):
            batch, time = rng.randint(1, 4), rng.randint(1, 7)
            bos, pad = rng.randint(0, 3), rng.randint(4, 6)
            labels = torch.randint(7, 50, (batch, time), generator=gen)
            for row in range(batch):
                labels[row, rng.randint(1, time):] = IGNORE  # padding at the end of some rows
            case = current["case"] = f"shift_right(labels={labels.tolist()}, bos_id={bos}, pad_id={pad})"
            want = torch.cat([torch.full((batch, 1), bos), labels[:, :-1]], dim=1).masked_fill_(
                torch.cat([torch.zeros(batch, 1, dtype=torch.bool), labels[:, :-1] == IGNORE], dim=1), pad)
            got = fn(labels.clone(), bos, pad)
            if problem := tensor_problem(got, want):
                hint = "prepend bos_id, drop the LAST label, and turn -100 into pad_id (an embedding has no row -100)"
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    if bool((got == IGNORE).any()):
                        hint = "-100 is a label for the loss, not a token id: replace it with pad_id"
                    elif torch.equal(got, labels.masked_fill(labels == IGNORE, pad)):
                        hint = "shift RIGHT: the decoder input at step t is the label of step t - 1 (bos_id first)"
                raise fail(case, show(want), show(got), f"{problem}; {hint}")

    return run_check("shift_right", trials, body)


# --- Exercise 2: label-smoothed cross-entropy ------------------------------------------------------------------
@exercise("10b", "smoothed_loss")
def check_smoothed_loss(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``smoothed_loss(logits, labels, epsilon)``: cross-entropy with label smoothing ``epsilon`` (the
    target puts ``1 - epsilon`` on the right token and spreads ``epsilon`` evenly over all ``V`` tokens),
    averaged over the positions whose label is not ``-100``. ``logits`` is ``[N, V]``, ``labels`` ``[N]``.
    Compared with ``F.cross_entropy(..., label_smoothing=epsilon, ignore_index=-100)``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_smoothed_loss(smoothed_loss)")
        for trial in range(trials):
            n, vocab = rng.randint(2, 8), rng.randint(2, 9)
            epsilon = rng.choice([0.0, 0.1, 0.2, 0.5]) if trial else 0.1
            logits = torch.randn(n, vocab, generator=gen) * 3
            labels = torch.randint(vocab, (n,), generator=gen)
            labels[rng.randrange(n)] = IGNORE  # at least one padded position
            case = current["case"] = (f"smoothed_loss(logits of shape {tuple(logits.shape)}, labels={labels.tolist()}, "
                                      f"epsilon={epsilon})")
            want = F.cross_entropy(logits, labels, label_smoothing=epsilon, ignore_index=IGNORE)
            got = fn(logits.clone(), labels.clone(), epsilon)
            if isinstance(got, float):
                got = torch.tensor(got)
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-4):
                hint = "loss = (1 - eps) * nll + eps * mean over the vocabulary of -log p, over real positions only"
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    keep = labels != IGNORE
                    log_p = logits[keep].log_softmax(-1)
                    uniform_rest = -(log_p.sum(-1) - log_p.gather(1, labels[keep, None]).squeeze(1)) / max(vocab - 1, 1)
                    nll = -log_p.gather(1, labels[keep, None]).squeeze(1)
                    if epsilon and torch.isclose(got, ((1 - epsilon) * nll + epsilon * uniform_rest).mean(), atol=1e-5):
                        hint = "PyTorch spreads epsilon over ALL V tokens (the right one included), not V - 1"
                    elif epsilon and torch.isclose(got, F.cross_entropy(logits[keep], labels[keep]), atol=1e-5):
                        hint = "the smoothing is missing: add epsilon * (mean over the vocabulary of -log p)"
                raise fail(case, show(want), show(got), f"{problem}; {hint}")

    return run_check("smoothed_loss", trials, body)


# --- Exercise 3: token-budget batches ---------------------------------------------------------------------------
@exercise("10b", "token_budget_batches")
def check_token_budget_batches(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``token_budget_batches(lengths, max_tokens)``: a list of batches (lists of indices into
    ``lengths``) using every index exactly once, where each batch costs at most ``max_tokens`` once padded
    (``len(batch) * longest length in it``); an example longer than the budget goes alone. Batches of similar
    lengths waste little padding: over all cases, the padded total may be at most 1.25 times that of sorting by
    length and filling greedily (the reference)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_token_budget_batches(token_budget_batches)")
        padded_total = reference_total = 0
        for trial in range(trials):
            lengths = [rng.choice([rng.randint(1, 6), rng.randint(5, 30)]) for _ in range(rng.randint(20, 60))]
            budget = rng.randint(60, 200)
            if trial == 0:
                lengths[rng.randrange(len(lengths))] = budget + 5  # longer than the budget: it goes alone
            case = current["case"] = f"token_budget_batches(lengths={lengths}, max_tokens={budget})"
            got = fn(list(lengths), budget)
            if not isinstance(got, (list, tuple)) or not all(isinstance(b, (list, tuple)) for b in got):
                raise fail(case, "a list of lists of indices", show(got), "return [[i, j, ...], [k, ...], ...]")
            flat = sorted(int(i) for batch in got for i in batch)
            if flat != list(range(len(lengths))):
                raise fail(case, f"every index 0..{len(lengths) - 1} exactly once", show(flat),
                           "each example goes into exactly one batch: none lost, none repeated")
            for batch in got:
                if not batch:
                    raise fail(case, "no empty batch", show(got), "drop empty batches")
                cost = len(batch) * max(lengths[i] for i in batch)
                if len(batch) > 1 and cost > budget:
                    raise fail(case, f"each batch padded to <= {budget} tokens", f"batch {list(batch)} costs {cost}",
                               "len(batch) * max length in the batch must stay within max_tokens: start a new "
                               "batch before adding the example that would overflow it")
            padded_total += sum(len(b) * max(lengths[i] for i in b) for b in got)
            reference_total += _greedy_sorted_cost(lengths, budget)
        if padded_total > 1.25 * reference_total:
            raise fail(f"all {trials} cases together", f"at most {1.25 * reference_total:.0f} padded tokens "
                       f"(sorted by length: {reference_total})", f"{padded_total} padded tokens",
                       "sort the indices by length first, so each batch holds look-alike lengths and little padding")

    return run_check("token_budget_batches", trials, body)


def _greedy_sorted_cost(lengths: list[int], budget: int) -> int:
    """Padded tokens of the reference: indices sorted by length, each batch filled until the next would overflow."""
    total, batch_max, count = 0, 0, 0
    for length in sorted(lengths):
        if count and max(batch_max, length) * (count + 1) > budget:
            total += batch_max * count
            batch_max, count = 0, 0
        batch_max, count = max(batch_max, length), count + 1
    return total + batch_max * count
