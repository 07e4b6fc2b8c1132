"""Checkers for notebook 10b (the translator): the teacher-forcing loss (a find-the-bug exercise: decoder
inputs not shifted right, a loss on padding), label-smoothed cross-entropy that ignores padding, and token-budget
batching of sentence pairs. References are PyTorch's ``F.cross_entropy`` and the rules each function must keep."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem

IGNORE = -100  # the label the loss skips (padding)


# --- Find the bug: the teacher-forcing loss -------------------------------------------------------------------
def _shift_right(labels: torch.Tensor, bos: int, pad: int) -> torch.Tensor:
    shifted = torch.cat([torch.full_like(labels[:, :1], bos), labels[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == IGNORE, pad)


class _RecordingDecoder:
    """A small random decoder (embedding, then a linear layer to the vocabulary) that remembers its last input."""

    def __init__(self, vocab: int, gen: torch.Generator) -> None:
        self.embedding = torch.randn(vocab, 8, generator=gen)
        self.output = torch.randn(8, vocab, generator=gen)
        self.inputs: torch.Tensor | None = None

    def __call__(self, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        self.inputs = decoder_input_ids.detach().clone()
        if bool((decoder_input_ids < 0).any()) or bool((decoder_input_ids >= len(self.embedding)).any()):
            raise ValueError(f"the decoder got token ids {decoder_input_ids.tolist()}: the embedding has no row "
                             "-100 (-100 is a label for the loss, not a token id: replace it with pad_id)")
        return self.embedding[decoder_input_ids] @ self.output  # [batch, time, vocab]

    def __repr__(self) -> str:
        return "decoder"


@exercise("10b", "teacher_forcing_loss")
def check_teacher_forcing_loss(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``teacher_forcing_loss(decoder, labels, bos_id, pad_id)``: the decoder reads the labels shifted one
    step right behind ``bos_id`` (``-100`` turned into ``pad_id``), and the loss is the mean cross-entropy of its
    logits against ``labels`` over the real positions only (``-100`` = padding, not counted)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_teacher_forcing_loss(teacher_forcing_loss)")
        for _ in range(trials):
            batch, time, vocab = rng.randint(2, 4), rng.randint(3, 7), rng.randint(12, 30)
            bos, pad = rng.randint(0, 2), rng.randint(3, 5)
            labels = torch.randint(6, vocab, (batch, time), generator=gen)
            for row in range(batch):  # padding at the end of every row but one
                if row:
                    labels[row, rng.randint(1, time - 1):] = IGNORE
            decoder = _RecordingDecoder(vocab, gen)
            case = current["case"] = (f"teacher_forcing_loss(decoder, labels={labels.tolist()}, bos_id={bos}, "
                                      f"pad_id={pad})")
            got = fn(decoder, labels.clone(), bos, pad)
            want_inputs = _shift_right(labels, bos, pad)
            read = decoder.inputs
            if read is None:
                raise fail(case, "a call decoder(decoder_input_ids)", "the decoder was never called",
                           "compute the logits with decoder(decoder_input_ids)")
            if problem := tensor_problem(read, want_inputs):
                hint = "the decoder reads bos_id, then the labels without their last one, -100 turned into pad_id"
                if read.shape == want_inputs.shape:
                    if bool((read == IGNORE).any()):
                        hint = "-100 is a label for the loss, not a token id: replace it with pad_id"
                    elif torch.equal(read, labels.masked_fill(labels == IGNORE, pad)):
                        hint = ("the decoder reads the very token it must predict (not shifted): a model that "
                                "copies its input would score a loss near 0 and learn nothing; shift the labels "
                                "one step right behind bos_id")
                raise fail(case + " (what the decoder read)", show(want_inputs), show(read), f"{problem}; {hint}")
            logits = decoder(want_inputs)
            want = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-5):
                hint = "the mean cross-entropy of the logits against the labels, over the non-(-100) positions"
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    flat = logits.flatten(0, 1)
                    padded_targets = F.cross_entropy(flat, labels.masked_fill(labels == IGNORE, pad).flatten())
                    if torch.allclose(got.float(), F.cross_entropy(flat, want_inputs.flatten()), atol=1e-5):
                        hint = ("the targets are the LABELS (the next tokens), not the decoder inputs: position t "
                                "predicts label t")
                    elif torch.allclose(got.float(), padded_targets, atol=1e-5):
                        hint = ("the loss counts the padded positions (their targets became pad_id): keep -100 in "
                                "the targets, which F.cross_entropy skips (ignore_index=-100)")
                raise fail(case + " (the loss)", show(want), show(got), f"{problem}; {hint}")

    return run_check("teacher_forcing_loss", trials, body)


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


# --- Exercise 3: token-budget batches of sentence pairs -------------------------------------------------------
def _pair_cost(batch: list[int] | tuple[int, ...], source: list[int], target: list[int]) -> int:
    """Padded tokens of a batch of pairs: each side is padded to its own longest sentence."""
    return len(batch) * (max(source[i] for i in batch) + max(target[i] for i in batch))


@exercise("10b", "token_budget_batches")
def check_token_budget_batches(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``token_budget_batches(source_lengths, target_lengths, max_tokens)``: a list of batches (lists of
    indices of sentence pairs) using every index exactly once, where each batch costs at most ``max_tokens`` once
    padded as the collator pads it, each side to its own longest sentence: ``len(batch) * (longest source +
    longest target)``; a pair over the budget goes alone. Batches of look-alike pairs waste little padding: over
    all cases, the padded total may be at most 1.25 times that of the reference (pairs sorted by source + target
    length, each batch filled until the next pair would overflow it)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_token_budget_batches(token_budget_batches)")
        padded_total = reference_total = 0
        for trial in range(trials):
            n = rng.randint(20, 60)
            source = [rng.choice([rng.randint(1, 6), rng.randint(5, 30)]) for _ in range(n)]
            target = [max(1, s + rng.randint(-8, 8)) for s in source]  # a translation: about as long
            if trial % 2:  # pairs whose longest source and longest target are different pairs
                for i in range(0, n, 2):
                    source[i], target[i] = rng.randint(1, 4), rng.randint(15, 30)
            budget = rng.randint(80, 240)
            if trial == 0:
                source[rng.randrange(n)] = budget + 5  # longer than the budget: it goes alone
            case = current["case"] = (f"token_budget_batches(source_lengths={source}, target_lengths={target}, "
                                      f"max_tokens={budget})")
            got = fn(list(source), list(target), budget)
            if not isinstance(got, (list, tuple)) or not all(isinstance(b, (list, tuple)) for b in got):
                raise fail(case, "a list of lists of indices", show(got), "return [[i, j, ...], [k, ...], ...]")
            flat = sorted(int(i) for batch in got for i in batch)
            if flat != list(range(n)):
                raise fail(case, f"every index 0..{n - 1} exactly once", show(flat),
                           "each pair goes into exactly one batch: none lost, none repeated")
            for batch in got:
                if not batch:
                    raise fail(case, "no empty batch", show(got), "drop empty batches")
                cost = _pair_cost(batch, source, target)
                if len(batch) > 1 and cost > budget:
                    hint = ("len(batch) * (longest source + longest target) must stay within max_tokens: start a "
                            "new batch before adding the pair that would overflow it")
                    if len(batch) * max(source[i] + target[i] for i in batch) <= budget:
                        hint = ("each side is padded to ITS OWN longest sentence, so the cost is len(batch) * "
                                "(longest source + longest target), which can exceed len(batch) * longest pair "
                                "(source + target of one pair)")
                    raise fail(case, f"each batch padded to <= {budget} tokens", f"batch {list(batch)} costs {cost}",
                               hint)
            padded_total += sum(_pair_cost(b, source, target) for b in got)
            reference_total += _greedy_sorted_cost(source, target, budget)
        if padded_total > 1.25 * reference_total:
            raise fail(f"all {trials} cases together", f"at most {1.25 * reference_total:.0f} padded tokens "
                       f"(sorted by length: {reference_total})", f"{padded_total} padded tokens",
                       "sort the pairs by length first (source + target), so each batch holds look-alike pairs and "
                       "little padding")

    return run_check("token_budget_batches", trials, body)


def _greedy_sorted_cost(source: list[int], target: list[int], budget: int) -> int:
    """Padded tokens of the reference: pairs sorted by source + target length, each batch filled until the next
    pair would overflow it."""
    total, batch = 0, list[int]()
    for i in sorted(range(len(source)), key=lambda i: source[i] + target[i]):
        if batch and _pair_cost([*batch, i], source, target) > budget:
            total += _pair_cost(batch, source, target)
            batch = []
        batch.append(i)
    return total + _pair_cost(batch, source, target)
