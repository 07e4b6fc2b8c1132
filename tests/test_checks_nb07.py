"""Notebook 07's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from sklearn.metrics import balanced_accuracy_score, f1_score

from course_utils.practice import grading
from course_utils.practice.checks import nb07
from course_utils.practice.checks.nb07 import (
    check_best_threshold,
    check_freeze_all_but_head,
    check_macro_scores,
    check_pad_collate,
    check_warmup_linear,
)


# --- macro_scores ---------------------------------------------------------------------------------------------
def macro_scores_sklearn(labels, preds):
    return f1_score(labels, preds, average="macro", zero_division=0), balanced_accuracy_score(labels, preds)


def macro_scores_by_hand(labels, preds):
    labels, preds = torch.as_tensor(labels), torch.as_tensor(preds)
    f1 = [2 * ((preds == c) & (labels == c)).sum() / ((preds == c).sum() + (labels == c).sum())
          for c in torch.unique(torch.cat([labels, preds]))]
    recall = [(preds[labels == c] == c).double().mean() for c in torch.unique(labels)]
    return torch.stack(f1).double().mean(), torch.stack(recall).mean()


def precision_recall_f1(labels, preds):  # precision 0/0 -> nan for a class never predicted
    labels, preds = np.asarray(labels), np.asarray(preds)
    scores = []
    for c in np.union1d(labels, preds):
        tp = np.sum((preds == c) & (labels == c))
        with np.errstate(invalid="ignore", divide="ignore"):
            p, r = tp / np.sum(preds == c), tp / np.sum(labels == c)
        scores.append(2 * p * r / (p + r))
    return np.mean(scores), balanced_accuracy_score(labels, preds)


@pytest.mark.parametrize("fn", [macro_scores_sklearn, macro_scores_by_hand])
def test_macro_scores_accepts_correct_answers(fn) -> None:
    assert_accepted(check_macro_scores, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda y, p: (np.mean(y == p), balanced_accuracy_score(y, p)), ["that is the accuracy"]),
        (lambda y, p: (f1_score(y, p, average="weighted", zero_division=0), balanced_accuracy_score(y, p)),
         ["not weighted by class size"]),
        (lambda y, p: (f1_score(y, p, average="macro", zero_division=0), np.mean(y == p)), ["plain accuracy"]),
        (precision_recall_f1, ["precision 0/0"]),
        (lambda y, p: {"f1": 0.5, "balanced": 0.5}, ["return (f1_macro, balanced_accuracy)"]),
    ],
)
def test_macro_scores_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_macro_scores(fn, seed=1), *fragments)


# --- pad_collate ----------------------------------------------------------------------------------------------
def pad_collate(examples, pad_id):
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id)
    mask = torch.zeros(len(examples), width, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[row, : len(e["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([e["label"] for e in examples])}


def pad_collate_rnn(examples, pad_id):
    ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(e["input_ids"]) for e in examples], batch_first=True,
                                          padding_value=pad_id)
    lengths = torch.tensor([len(e["input_ids"]) for e in examples])
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).int()
    return dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([e["label"] for e in examples]))


def padded_to(examples, pad_id, width=8):  # a fixed length, as tokenizer(padding="max_length") would
    rows = [e["input_ids"] + [pad_id] * (width - len(e["input_ids"])) for e in examples]
    return {"input_ids": torch.tensor(rows), "attention_mask": (torch.tensor(rows) != pad_id).long(),
            "labels": torch.tensor([e["label"] for e in examples])}


@pytest.mark.parametrize("fn", [pad_collate, pad_collate_rnn])
def test_pad_collate_accepts_correct_answers(fn) -> None:
    assert_accepted(check_pad_collate, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (padded_to, ["not to a fixed length"]),
        (lambda ex, pad: {**pad_collate(ex, pad), "attention_mask": 1 - pad_collate(ex, pad)["attention_mask"]},
         ["1 where a real token is"]),
        (lambda ex, pad: {**pad_collate(ex, pad), "input_ids": pad_collate(ex, pad)["input_ids"].flip(1)},
         ["pad each row on the right"]),
        (lambda ex, pad: {k if k != "labels" else "label": v for k, v in pad_collate(ex, pad).items()},
         ["rename 'label' to 'labels'"]),
        (lambda ex, pad: {**pad_collate(ex, pad), "attention_mask": pad_collate(ex, pad)["attention_mask"].float()},
         ["dtype long"]),
        (lambda ex, pad: [e["input_ids"] for e in ex], ["return a dict"]),
    ],
)
def test_pad_collate_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_pad_collate(fn, seed=2), *fragments)


# --- warmup_linear --------------------------------------------------------------------------------------------
def warmup_linear(warmup_steps, total_steps):
    def lr_lambda(step):
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    return lr_lambda


def warmup_linear_hf(warmup_steps, total_steps):  # read the factors off transformers' own schedule
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    return schedule.lr_lambdas[0]


@pytest.mark.parametrize("fn", [warmup_linear, warmup_linear_hf])
def test_warmup_linear_accepts_correct_answers(fn) -> None:
    assert_accepted(check_warmup_linear, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda w, t: lambda s: min((s + 1) / max(1, w), 1.0) if s < w else max(0.0, (t - s) / (t - w)),
         ["0 at step 0"]),
        (lambda w, t: lambda s: s / w if s < w else (t - s) / (t - w), ["must not go negative"]),
        (lambda w, t: lambda s: s / max(1, w) if s < w else max(0.0, (t - s) / t), ["1 at the end of warm-up"]),
        (lambda w, t: warmup_linear(w, t)(0), ["return the inner function itself"]),
        (lambda w, t: lambda s: s / w if s <= w else max(0.0, (t - s) / (t - w)), ["ZeroDivisionError"]),
    ],
)
def test_warmup_linear_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_warmup_linear(fn, seed=3, trials=6), *fragments)


# --- freeze_all_but_head --------------------------------------------------------------------------------------
def freeze_all_but_head(model):
    for parameter in model.base_model.parameters():
        parameter.requires_grad = False


def freeze_by_prefix(model):
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.startswith(model.base_model_prefix + "."))


def freeze_bert_only(model):  # names BERT's head: DistilBERT's pre_classifier is frozen too
    model.requires_grad_(False)
    model.classifier.requires_grad_(True)


@pytest.mark.parametrize("fn", [freeze_all_but_head, freeze_by_prefix])
def test_freeze_all_but_head_accepts_correct_answers(fn) -> None:
    assert_accepted(check_freeze_all_but_head, fn)


def test_freeze_all_but_head_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_freeze_all_but_head(freeze_all_but_head, seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda model: model.eval(), ["model.eval() or torch.no_grad() freeze nothing"]),
        (lambda model: model.requires_grad_(False), ["the head must keep learning"]),
        (lambda model: model.base_model.embeddings.requires_grad_(False), ["not only some"]),
        (freeze_bert_only, ["pre_classifier"]),
    ],
)
def test_freeze_all_but_head_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_freeze_all_but_head(fn, seed=4), *fragments)


# --- best_threshold -------------------------------------------------------------------------------------------
def best_threshold(probs, labels, thresholds):
    scores = [f1_score(labels, probs > t, average="macro", zero_division=0) for t in thresholds]
    return float(thresholds[int(np.argmax(scores))])


def best_threshold_last_tie(probs, labels, thresholds):
    scores = [f1_score(labels, probs > t, average="macro", zero_division=0) for t in thresholds]
    return max(zip(scores, thresholds))[1]  # the largest threshold among the best


def best_by_accuracy(probs, labels, thresholds):
    return float(thresholds[int(np.argmax([np.mean((probs > t) == labels) for t in thresholds]))])


@pytest.mark.parametrize("fn", [best_threshold, best_threshold_last_tie])
def test_best_threshold_accepts_correct_answers(fn) -> None:
    assert_accepted(check_best_threshold, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (best_by_accuracy, ["maximises the accuracy"]),
        (lambda p, y, t: max(f1_score(y, p > s, average="macro", zero_division=0) for s in t), ["that is a score"]),
        (lambda p, y, t: int(np.argmax([f1_score(y, p > s, average="macro") for s in t])), ["the threshold itself"]),
        (lambda p, y, t: list(t), ["one of the given thresholds"]),
    ],
)
def test_best_threshold_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_best_threshold(fn, seed=5), *fragments)


# --- bad input ------------------------------------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_macro_scores("macro_scores"), "something callable")
    assert_rejected(check_pad_collate(lambda ex, pad: 1 / 0), "ZeroDivisionError", "input:")
    assert_rejected(check_macro_scores(lambda y, p: (1.0,)), "a pair of numbers")

    def forever(warmup_steps, total_steps):
        while True:
            pass

    monkeypatch.setattr(nb07, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb07.check_warmup_linear(forever), "time limit of 0.5 s", "warmup_linear(warmup_steps=")


# --- predict_labels (find the bug: the attention mask) -------------------------------------------------------
def predict_labels(model, batch):
    model.eval()
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(dim=-1)


def predict_labels_all_keys(model, batch):  # model(**batch) passes the mask too (and computes a loss: harmless)
    model.eval()
    with torch.inference_mode():
        return model(**batch).logits.argmax(dim=-1)


def predict_labels_no_mask(model, batch):  # the notebook's bug
    model.eval()
    with torch.no_grad():
        return model(input_ids=batch["input_ids"]).logits.argmax(dim=-1)


def predict_labels_train_mode(model, batch):  # a wrong fix: the mask, but dropout still on
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(dim=-1)


def predict_labels_with_grad(model, batch):
    model.eval()
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(dim=-1)


@pytest.mark.parametrize("fn", [predict_labels, predict_labels_all_keys])
def test_predict_labels_accepts_correct_answers(fn) -> None:
    assert_accepted(nb07.check_predict_labels, fn, rounds=2)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (predict_labels_no_mask, ["attention_mask", "pad tokens"]),
        (predict_labels_train_mode, ["training mode", "model.eval()"]),
        (predict_labels_with_grad, ["torch.no_grad()"]),
        (lambda m, b: predict_labels(m, b)[:-1], ["shape"]),
    ],
)
def test_predict_labels_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(nb07.check_predict_labels(fn, seed=0), *fragments)
