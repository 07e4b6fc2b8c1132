"""Checkers for notebook 07 (fine-tuning a pretrained encoder): honest scores on unbalanced classes, a padding
collate function, the warm-up + linear-decay schedule, freezing the encoder, a decision threshold, and predicting
the labels of a padded batch (a find-the-bug: the attention mask left out).

The checkers never touch the global random state (notebook 07's training must not depend on whether the
exercises ran): their cases come from their own generators, and the tiny models are built under
``torch.random.fork_rng``. No pretrained model or data set is loaded: the models are tiny BERT and DistilBERT
classifiers built from a config.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    PreTrainedModel,
)

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


def _number(value: object) -> float | None:
    """A plain float from a Python/NumPy number or a one-element tensor/array; None for anything else."""
    size = value.numel() if isinstance(value, torch.Tensor) else getattr(value, "size", None)
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)) and size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _macro_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    """Macro-F1 over the classes in labels or preds (scikit-learn's default), F1 = 2TP / (2TP + FP + FN)."""
    scores = []
    for c in np.union1d(labels, preds):
        tp = np.sum((preds == c) & (labels == c))
        scores.append(2 * tp / (np.sum(preds == c) + np.sum(labels == c)))
    return float(np.mean(scores))


def _balanced_accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """The mean over the classes present in labels of their recall."""
    return float(np.mean([np.mean(preds[labels == c] == c) for c in np.unique(labels)]))


# --- Exercise 1: macro-F1 and balanced accuracy ---------------------------------------------------------------
@exercise("07", "macro_scores")
def check_macro_scores(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``macro_scores(labels, preds)`` -> ``(f1_macro, balanced_accuracy)`` for integer class arrays:
    macro-F1 is the plain mean of the per-class F1 = 2TP / (2TP + FP + FN) over the classes that occur in
    ``labels`` or ``preds``; balanced accuracy the mean of the per-class recalls over the classes in ``labels``
    (scikit-learn's ``f1_score(average="macro", zero_division=0)`` and ``balanced_accuracy_score``)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_macro_scores(macro_scores)")
        for trial in range(trials):
            classes, n = rng.randint(2, 4), rng.randint(6, 30)
            shares = [rng.random() + (3 if c == 0 else 0) for c in range(classes)]  # class 0 is the majority
            labels = np.array(rng.choices(range(classes), weights=shares, k=n))
            labels[:classes] = np.arange(classes)  # every class occurs
            if trial == 0:
                preds, how = np.zeros_like(labels), "always class 0 (the majority baseline)"
            else:
                preds = np.where(np.array([rng.random() < 0.6 for _ in labels]), labels,
                                 np.array(rng.choices(range(classes), k=n)))
                how = "a noisy classifier"
            case = current["case"] = f"macro_scores(labels={labels.tolist()}, preds={preds.tolist()}) ({how})"
            want = (_macro_f1(labels, preds), _balanced_accuracy(labels, preds))
            got = fn(labels.copy(), preds.copy())
            two = isinstance(got, (tuple, list)) and len(got) == 2
            f1, balanced = (_number(got[0]), _number(got[1])) if two else (None, None)
            if f1 is None or balanced is None:
                raise fail(case, f"a pair of numbers {want}", got, "return (f1_macro, balanced_accuracy)")
            pair = (f1, balanced)
            if any(np.isnan(pair)):
                raise fail(case, want, got, "a class never predicted has precision 0/0: count its F1 as 0 "
                           "(2TP / (2TP + FP + FN) never divides by zero)")
            accuracy = float(np.mean(labels == preds))
            if abs(pair[0] - want[0]) > 1e-6:
                weighted = float(np.average([2 * np.sum((preds == c) & (labels == c)) / (np.sum(preds == c) + np.sum(
                    labels == c)) for c in np.unique(labels)], weights=np.bincount(labels)[np.unique(labels)]))
                hint = ("that is the accuracy (micro-F1): average the per-class F1 scores instead" if abs(
                    pair[0] - accuracy) < 1e-9 else "the plain mean, not weighted by class size" if abs(
                    pair[0] - weighted) < 1e-9 else "per class c: F1 = 2TP / (2TP + FP + FN); then the mean")
                raise fail(case, f"f1_macro {want[0]:.6f}", f"{pair[0]:.6f}", hint)
            if abs(pair[1] - want[1]) > 1e-6:
                hint = ("that is the plain accuracy: take each class's recall (correct / its examples), then the "
                        "mean" if abs(pair[1] - accuracy) < 1e-9 else "the mean over the classes of labels of "
                        "their recall, TP / (TP + FN)")
                raise fail(case, f"balanced_accuracy {want[1]:.6f}", f"{pair[1]:.6f}", hint)

    return run_check("macro_scores", trials, body)


# --- Exercise 2: pad each batch to its longest example --------------------------------------------------------
@exercise("07", "pad_collate")
def check_pad_collate(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``pad_collate(examples, pad_id)``: ``examples`` is a list of ``{"input_ids": list[int], "label":
    int}``; return a dict with ``input_ids`` [B, T] (integer tensor, T the longest example of the batch, each row
    padded on the right with ``pad_id``), ``attention_mask`` [B, T] (1 on real tokens, 0 on padding) and
    ``labels`` [B] (the name the model's loss looks for)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_pad_collate(pad_collate)")
        for _ in range(trials):
            pad_id, batch = rng.choice([0, 1, 3, 99]), rng.randint(1, 5)
            lengths = [rng.randint(1, 7) for _ in range(batch)]
            ids = [[rng.choice([t for t in range(4, 40) if t != pad_id]) for _ in range(n)] for n in lengths]
            examples: list[dict[str, Any]] = [{"input_ids": row, "label": rng.randint(0, 2)} for row in ids]
            case = current["case"] = f"pad_collate({examples}, pad_id={pad_id})"
            width = max(lengths)
            want = {
                "input_ids": torch.tensor([row + [pad_id] * (width - len(row)) for row in ids]),
                "attention_mask": torch.tensor([[1] * n + [0] * (width - n) for n in lengths]),
                "labels": torch.tensor([e["label"] for e in examples]),
            }
            got = fn([dict(e, input_ids=list(e["input_ids"])) for e in examples], pad_id)
            if not isinstance(got, Mapping):
                raise fail(case, "a dict with input_ids, attention_mask and labels", got, "return a dict")
            for key, tensor in want.items():
                if key not in got:
                    hint = ("rename 'label' to 'labels': the model computes its loss from `labels`" if key == "labels"
                            else f"add the {key!r} entry")
                    raise fail(case, f"a key {key!r}", f"keys {sorted(got)}", hint)
                value = got[key]
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    raise fail(case, show(tensor), show(value), f"{key} must hold integers (ids, 0/1): dtype long")
                if problem := tensor_problem(value, tensor):
                    hint = {"input_ids": f"pad each row on the right with pad_id up to the longest row ({width})",
                            "attention_mask": "1 where a real token is, 0 where padding was added",
                            "labels": "one label per example, in the order of the examples"}[key]
                    if "shape" in problem and key != "labels":
                        hint = f"pad to the longest example of this batch ({width}), not to a fixed length"
                    raise fail(case, f"{key} = {show(tensor)}", show(value), f"{problem}; {hint}")

    return run_check("pad_collate", trials, body)


# --- Exercise 3: warm-up, then linear decay -------------------------------------------------------------------
def _warmup_linear(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


@exercise("07", "warmup_linear")
def check_warmup_linear(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``warmup_linear(warmup_steps, total_steps)``: it returns a function ``lr_lambda(step)`` (for
    ``torch.optim.lr_scheduler.LambdaLR``) giving the factor on the base learning rate: ``step / warmup_steps``
    while ``step < warmup_steps`` (0 at step 0), then falling linearly to 0 at ``total_steps`` and staying 0;
    ``transformers.get_linear_schedule_with_warmup`` is exactly this."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_warmup_linear(warmup_linear)")
        for trial in range(trials):
            total = rng.randint(2, 60)
            warmup = 0 if trial == 1 else rng.randint(1, max(1, total // 3))
            case = current["case"] = f"warmup_linear(warmup_steps={warmup}, total_steps={total})"
            lr_lambda = fn(warmup, total)
            if not callable(lr_lambda):
                raise fail(case, "a function of the step", show(lr_lambda),
                           "return the inner function itself: def lr_lambda(step): ...; return lr_lambda")
            for step in range(total + 3):
                current["case"] = f"{case}, then lr_lambda({step})"
                want, got = _warmup_linear(step, warmup, total), lr_lambda(step)
                value = _number(got)
                if value is None or abs(value - want) > 1e-9:
                    if step < warmup:
                        hint = "during warm-up the factor is step / warmup_steps: 0 at step 0"
                    elif step > total:
                        hint = "after total_steps the factor stays at 0 (max(0, ...)), it must not go negative"
                    else:
                        hint = "after warm-up: (total_steps - step) / (total_steps - warmup_steps), 1 at the end " \
                               "of warm-up and 0 at total_steps"
                    raise fail(current["case"], want, got, hint)

    return run_check("warmup_linear", trials, body)


# --- Exercise 4: freeze the encoder, train the head -----------------------------------------------------------
def _tiny_classifier(rng: random.Random, kind: str) -> PreTrainedModel:
    labels = rng.randint(2, 4)
    with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
        torch.manual_seed(rng.randrange(2**31))
        # num_labels is a keyword the configs take at run time (a property of PreTrainedConfig), not one of the
        # dataclass fields their typed signature lists.
        if kind == "bert":
            bert = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1,  # type: ignore[call-arg]
                              num_attention_heads=2, intermediate_size=16, max_position_embeddings=16,
                              num_labels=labels)
            return BertForSequenceClassification(bert)
        distilbert = DistilBertConfig(vocab_size=40, dim=8, n_layers=1, n_heads=2,  # type: ignore[call-arg]
                                      hidden_dim=16, max_position_embeddings=16, num_labels=labels)
        return DistilBertForSequenceClassification(distilbert)


@exercise("07", "freeze_all_but_head")
def check_freeze_all_but_head(fn: Callable, trials: int = 4, seed: int | None = None) -> CheckResult:
    """Check ``freeze_all_but_head(model)`` on tiny BERT and DistilBERT classifiers built from a config: afterwards
    every parameter of the pretrained encoder (``model.base_model``) has ``requires_grad=False`` and every other
    parameter (the head: BERT's ``classifier``, DistilBERT's ``pre_classifier`` and ``classifier``) still
    trains."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_freeze_all_but_head(freeze_all_but_head)")
        for trial in range(trials):
            kind = ("bert", "distilbert")[trial % 2]
            model = _tiny_classifier(rng, kind)
            encoder = {id(p) for p in model.base_model.parameters()}
            head = [n for n, p in model.named_parameters() if id(p) not in encoder]
            case = current["case"] = f"freeze_all_but_head(a tiny {type(model).__name__}; head: {head})"
            fn(model)
            still = [n for n, p in model.named_parameters() if id(p) in encoder and p.requires_grad]
            frozen_head = [n for n, p in model.named_parameters() if id(p) not in encoder and not p.requires_grad]
            if still:
                hint = ("model.eval() or torch.no_grad() freeze nothing: set requires_grad = False on each parameter "
                        "of model.base_model" if len(still) == len(encoder) else
                        "freeze every parameter of model.base_model (embeddings and layers), not only some")
                raise fail(case, "every encoder parameter frozen", f"{len(still)} of {len(encoder)} encoder "
                           f"parameters still train, e.g. {still[:2]}", hint)
            if frozen_head:
                hint = ("only the encoder is frozen: the head must keep learning" if len(frozen_head) == len(head)
                        else "the head is everything outside model.base_model (DistilBERT's has a pre_classifier "
                        "layer too): freeze model.base_model.parameters() rather than naming the head")
                raise fail(case, f"the head {head} trainable", f"frozen head parameters {frozen_head}", hint)

    return run_check("freeze_all_but_head", trials, body)


# --- Exercise 5: the decision threshold -----------------------------------------------------------------------
@exercise("07", "best_threshold")
def check_best_threshold(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``best_threshold(probs, labels, thresholds)``: among ``thresholds``, one at which ``probs > t``
    (the positive class) has the largest macro-F1 against the 0/1 ``labels`` (any of them when several tie).
    Returns the threshold itself (a float), not its index or its score."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_best_threshold(best_threshold)")
        for _ in range(trials):
            n = rng.randint(20, 80)
            labels = (torch.rand(n, generator=gen) < rng.uniform(0.1, 0.3)).long()
            labels[0] = 1
            labels[1] = 0
            logits = rng.uniform(0.5, 3.0) * (labels.double() - 0.5) + torch.randn(n, generator=gen,
                                                                                   dtype=torch.float64)
            probs = torch.sigmoid(logits - rng.uniform(0.0, 2.0)).numpy()
            thresholds = np.round(np.linspace(0.05, 0.95, rng.choice([7, 10, 19])), 4)
            y = labels.numpy()
            scores = [_macro_f1(y, (probs > t).astype(int)) for t in thresholds]
            best = max(scores)
            case = current["case"] = (f"best_threshold(probs of {n} tweets, labels with {int(y.sum())} positives, "
                                      f"thresholds={thresholds.tolist()})")
            got = fn(probs.copy(), y.copy(), thresholds.copy())
            value = _number(got)
            matches = [i for i, t in enumerate(thresholds) if value is not None and abs(value - t) < 1e-9]
            tied = [float(t) for t, s in zip(thresholds, scores) if s >= best - 1e-12]
            wanted = f"one of {tied} (macro-F1 {best:.4f})"
            if not matches:
                hint = ("that is a score, not a threshold: return thresholds[best index]" if value is not None and any(
                    abs(value - s) < 1e-9 for s in scores) else "return the threshold itself, a value of thresholds"
                    if value is not None and float(value).is_integer() else "return one of the given thresholds")
                raise fail(case, wanted, got, hint)
            if scores[matches[0]] < best - 1e-12:
                accuracies = [float(np.mean((probs > t) == y)) for t in thresholds]
                hint = ("that threshold maximises the accuracy: on unbalanced classes maximise the macro-F1"
                        if accuracies[matches[0]] >= max(accuracies) - 1e-12 else
                        "for each t: macro-F1 of (probs > t) against labels; keep the t with the largest")
                raise fail(case, wanted, f"{value} (macro-F1 {scores[matches[0]]:.4f})", hint)

    return run_check("best_threshold", trials, body)


# --- Exercise 6 (find the bug): predict the labels of a padded batch ------------------------------------------
def _padded_batch(rng: random.Random, gen: torch.Generator, vocab: int) -> tuple[dict[str, torch.Tensor], list[int]]:
    """A batch as DataCollatorWithPadding makes it (pad id 0 on the right), and the real length of each row."""
    lengths = [rng.randint(2, 12) for _ in range(rng.randint(3, 6))]
    lengths[rng.randrange(len(lengths))] = 14  # one long row: every other row gets padding
    width = max(lengths)
    input_ids = torch.zeros(len(lengths), width, dtype=torch.long)
    attention_mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        input_ids[row, :n] = torch.randint(1, vocab, (n,), generator=gen)
        attention_mask[row, :n] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if rng.random() < 0.5:  # the collator's batches carry the labels too
        batch["labels"] = torch.randint(0, 2, (len(lengths),), generator=gen)
    return batch, lengths


@exercise("07", "predict_labels")
def check_predict_labels(fn: Callable, trials: int = 4, seed: int | None = None) -> CheckResult:
    """Check ``predict_labels(model, batch)`` -> a LongTensor ``[B]``: the class of every row of a padded batch
    (``input_ids``, ``attention_mask``, maybe ``labels``), equal to what each row gets ALONE, without padding: the
    model must read the attention mask, run in evaluation mode (no dropout) and without building an autograd
    graph. The models are tiny random BERT classifiers handed over in training mode, as after training."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_predict_labels(predict_labels)")
        for _ in range(trials):
            model = _tiny_classifier(rng, "bert")
            vocab, pad_id = model.config.vocab_size, model.config.pad_token_id
            batch, lengths = _padded_batch(rng, gen, vocab)
            with torch.no_grad():
                model.eval()
                alone = torch.cat([model(input_ids=batch["input_ids"][r : r + 1, :n]).logits.argmax(-1)
                                   for r, n in enumerate(lengths)])
                unmasked = model(input_ids=batch["input_ids"]).logits.argmax(-1)
            model.train()
            calls: list[dict[str, bool]] = []

            def spy(module: torch.nn.Module, args: tuple, kwargs: dict, calls: list = calls,
                    pad_id: int = pad_id) -> None:
                ids = kwargs.get("input_ids", args[0] if args else None)
                mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
                padded = isinstance(ids, torch.Tensor) and bool((ids == pad_id).any())
                calls.append({"training": module.training, "grad": torch.is_grad_enabled(),
                              "unmasked padding": padded and mask is None})

            handle = model.register_forward_pre_hook(spy, with_kwargs=True)
            shapes = {k: tuple(v.shape) for k, v in batch.items()}
            case = current["case"] = (f"predict_labels(a tiny BERT classifier in training mode, a padded batch "
                                      f"{shapes} with rows of {lengths} real tokens)")
            try:
                with torch.random.fork_rng(devices=[]):  # dropout, if left on, draws from a forked state
                    got = fn(model, {k: v.clone() for k, v in batch.items()})
            finally:
                handle.remove()
            if not calls:
                raise fail(case, "a forward pass of the model", "the model was never called",
                           "run the model on the batch: model(input_ids=..., attention_mask=...).logits")
            if any(c["training"] for c in calls):
                raise fail(case, "the model in evaluation mode while it predicts", "it ran in training mode",
                           "in training mode dropout zeroes random activations, so the same batch gets different "
                           "labels from call to call: call model.eval() before predicting")
            mask_hint = ("without the attention mask the model reads the pad tokens as text, so a row's class "
                         "depends on how much padding its batch needs: pass attention_mask=batch['attention_mask'] "
                         "(or model(**batch))")
            if any(c["unmasked padding"] for c in calls):
                raise fail(case, "the batch's attention_mask passed to the model", "padded input_ids without it",
                           mask_hint)
            if problem := tensor_problem(got, alone):
                hint = "the argmax over the class scores (dim=-1) of model(...).logits, one label per row"
                if isinstance(got, torch.Tensor) and torch.equal(got, unmasked) and not torch.equal(got, alone):
                    hint = mask_hint
                raise fail(case, alone, got, f"{problem}; {hint}")
            if any(c["grad"] for c in calls):
                raise fail(case, "no autograd graph while predicting", "gradients were being recorded",
                           "wrap the forward pass in torch.no_grad() (or torch.inference_mode()): predicting needs "
                           "no gradients, and recording them costs memory and time")

    return run_check("predict_labels", trials, body)
