"""Checkers for notebook 05 (RNN sequence classification): class weights for an unbalanced loss, the last real
output of each padded sequence, top-k accuracy."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


# --- Exercise 1: class weights --------------------------------------------------------------------------------
@exercise("05", "class_weights")
def check_class_weights(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``class_weights(labels, num_classes)``: a float tensor of ``num_classes`` weights,
    ``N / (num_classes * count_c)`` for class ``c`` with ``count_c`` examples among the ``N`` labels (so the
    average weight over the examples is 1 and every class carries the same total weight); a class with no
    example counts as 1 (its weight must stay finite)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_class_weights(class_weights)")
        for trial in range(trials):
            classes = rng.randint(2, 7)
            sizes = [rng.choice([1, 2, 3, 10, 40]) for _ in range(classes)]
            if trial % 2:
                sizes[rng.randrange(classes)] = 0  # a class absent from these labels
            sizes[rng.randrange(classes)] += 1
            labels = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
            labels = labels[torch.randperm(len(labels), generator=gen)]
            case = current["case"] = f"class_weights(labels, num_classes={classes}) with class sizes {sizes}"
            counts = torch.bincount(labels, minlength=classes)
            want = (len(labels) / (classes * counts.clamp(min=1))).float()
            got = fn(labels.clone(), classes)
            if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
                raise fail(case, show(want), show(got), "a class with no example would divide by zero: "
                           "counts.clamp(min=1)")
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-5):
                hint = ("one weight per class: torch.bincount(labels, minlength=num_classes)" if "shape" in problem
                        else "N / (num_classes * count): the mean weight over the examples is then 1")
                raise fail(case, show(want), show(got), f"{problem}; {hint}")

    return run_check("class_weights", trials, body)


# --- Exercise 2: the last real output of each sequence --------------------------------------------------------
@exercise("05", "last_outputs")
def check_last_outputs(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``last_outputs(outputs, lengths)``: ``outputs`` is an RNN's output over a padded batch,
    ``[B, T, H]`` (batch first), ``lengths`` the true lengths ``[B]``; return ``[B, H]``, each sequence's output
    at its own last real step ``lengths[b] - 1``. For a one-way RNN that is the final hidden state ``h_n`` of the
    packed run, which is what the checker compares with (random GRUs and lengths)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_last_outputs(last_outputs)")
        for _ in range(trials):
            batch, features, hidden = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 5)
            lengths = torch.tensor([rng.randint(1, 7) for _ in range(batch)])
            lengths[rng.randrange(batch)] = int(lengths.max()) + rng.randint(0, 1)  # padding in the others
            x = torch.randn(batch, int(lengths.max()), features, generator=gen)
            torch.manual_seed(rng.randrange(2**31))
            gru = nn.GRU(features, hidden, batch_first=True)
            with torch.no_grad():
                outputs, _ = gru(x)  # runs over the padding too: outputs after the last real step are junk
                _, h_n = gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            case = current["case"] = (f"last_outputs(outputs of shape {tuple(outputs.shape)}, "
                                      f"lengths={lengths.tolist()})")
            got = fn(outputs.clone(), lengths.clone())
            if problem := tensor_problem(got, h_n[-1], atol=1e-5):
                if isinstance(got, torch.Tensor) and got.shape == h_n[-1].shape and torch.allclose(
                        got, outputs[:, -1], atol=1e-6):
                    hint = "outputs[:, -1] is the last PADDED step; take step lengths[b] - 1 of each sequence"
                else:
                    hint = "outputs[torch.arange(B), lengths - 1]: row b, its own last step"
                raise fail(case, show(h_n[-1], 120), show(got, 120), f"{problem}; {hint}")

    return run_check("last_outputs", trials, body)


# --- Exercise 3: top-k accuracy -------------------------------------------------------------------------------
@exercise("05", "top_k_accuracy")
def check_top_k_accuracy(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``top_k_accuracy(logits, targets, k)``: the fraction (a number between 0 and 1) of rows of ``logits``
    ``[N, C]`` whose target class ``targets[i]`` is among the ``k`` largest scores of that row."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_top_k_accuracy(top_k_accuracy)")
        for trial in range(trials):
            n, classes = rng.randint(1, 12), rng.randint(2, 8)
            while n == classes:
                n = rng.randint(1, 12)
            k = 1 if trial == 0 else rng.randint(1, classes)
            logits = torch.randn(n, classes, generator=gen, dtype=torch.float64)
            targets = torch.randint(0, classes, (n,), generator=gen)
            case = current["case"] = (f"top_k_accuracy(logits of shape {(n, classes)}, targets={targets.tolist()}, "
                                      f"k={k}) (random logits)")
            want = (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1).double().mean().item()
            got = fn(logits.clone(), targets.clone(), k)
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, numbers.Real) or abs(float(got) - want) > 1e-6:
                hint = ("a fraction of the rows, not a count: divide by N" if isinstance(got, numbers.Real)
                        and float(got) > 1 else "logits.topk(k, dim=1).indices, then is the target among them? "
                        "(== targets[:, None]).any(dim=1)")
                raise fail(case, want, got, hint)

    return run_check("top_k_accuracy", trials, body)
