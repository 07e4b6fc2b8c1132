"""Notebook 04's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch import nn

from course_utils.practice import grading
from course_utils.practice.checks import nb04
from course_utils.practice.checks.nb04 import (
    check_conv_block,
    check_conv_output_size,
    check_iou_per_class,
    check_pick_by_validation,
)


# --- conv_output_size -----------------------------------------------------------------------------------------
def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_output_size_floor(size, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return math.floor((size + 2 * padding - span) / stride) + 1


@pytest.mark.parametrize("fn", [conv_output_size, conv_output_size_floor])
def test_conv_output_size_accepts_correct_answers(fn) -> None:
    assert_accepted(check_conv_output_size, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1, ["//", "input:    conv_output_size("]),
        (lambda n, k, s, p, d: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1, ["not up"]),
        (lambda n, k, s, p, d: (n + 2 * p - k) // s + 1, ["dilation * (kernel_size - 1) + 1"]),
        (lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1, ["BOTH sides"]),
        (lambda n, k, s, p, d: float((n + 2 * p - d * (k - 1) - 1) // s + 1), ["as a float"]),
    ],
)
def test_conv_output_size_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_conv_output_size(fn, seed=1), *fragments)


# --- conv_block -----------------------------------------------------------------------------------------------
def conv_block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.MaxPool2d(2))


class ConvBlock(nn.Module):  # a class with a bias in its convolution: batch norm cancels it, so it is right too
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(c_in, c_out, kernel_size=(3, 3), padding="same"), nn.BatchNorm2d(c_out)

    def forward(self, x):
        return nn.functional.max_pool2d(torch.relu(self.norm(self.conv(x))), 2)


@pytest.mark.parametrize("fn", [conv_block, ConvBlock])
def test_conv_block_accepts_correct_answers(fn) -> None:
    assert_accepted(check_conv_block, fn)


class ListBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)), ["padding=1"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(i), nn.ReLU(), nn.MaxPool2d(2)),
         ["nn.BatchNorm2d(c_out)"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)), ["no BatchNorm2d"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(o), nn.MaxPool2d(2)),
         ["ReLU after the batch norm"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.MaxPool2d(2)),
         ["a ReLU is missing"]),
        (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()), ["halve the size"]),
        (ListBlock, ["plain Python list"]),
        (lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o)], ["an nn.Module"]),
    ],
)
def test_conv_block_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_conv_block(fn, seed=2), *fragments)


def test_conv_block_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_conv_block(conv_block, seed=3)
    assert torch.equal(torch.rand(3), expected)


# --- pick_by_validation ---------------------------------------------------------------------------------------
def pick_by_validation(runs):
    return max(runs, key=lambda name: runs[name]["val_accuracy"][-1])


def pick_loop(runs):
    chosen, best = None, float("-inf")
    for name, run in runs.items():
        if run["val_accuracy"][-1] > best:  # strictly better: a tie keeps the first
            chosen, best = name, run["val_accuracy"][-1]
    return chosen


@pytest.mark.parametrize("fn", [pick_by_validation, pick_loop])
def test_pick_by_validation_accepts_correct_answers(fn) -> None:
    assert_accepted(check_pick_by_validation, fn)


def pick_last_of_a_tie(runs):
    chosen, best = None, float("-inf")
    for name, run in runs.items():
        if run["val_accuracy"][-1] >= best:
            chosen, best = name, run["val_accuracy"][-1]
    return chosen


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda runs: max(runs, key=lambda n: runs[n].get("test_accuracy", 0.0)), ["reading runs[", "test_accuracy"]),
        (lambda runs: max(runs, key=lambda n: (runs[n]["val_accuracy"][-1], runs[n].get("test_accuracy", 0.0))),
         ["not even as a tie-breaker"]),
        (lambda runs: max(runs, key=lambda n: max(runs[n]["val_accuracy"])), ["EARLIER epoch", "[-1]"]),
        (lambda runs: min(runs, key=lambda n: runs[n]["val_loss"][-1]), ["validation LOSS", "runs = {'"]),
        (lambda runs: min(runs, key=lambda n: runs[n]["train_loss"][-1]), ["TRAINING loss"]),
        (pick_last_of_a_tie, ["a tie", "listed FIRST"]),
        (lambda runs: sorted(runs, key=lambda n: runs[n]["val_accuracy"][-1])[-1], ["a tie"]),
        (lambda runs: max(run["val_accuracy"][-1] for run in runs.values()), ["the NAME of the chosen recipe"]),
        (lambda runs: runs[pick_by_validation(runs)], ["the NAME of the chosen recipe"]),
    ],
)
def test_pick_by_validation_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_pick_by_validation(fn, seed=0), *fragments)


# --- iou_per_class --------------------------------------------------------------------------------------------
def iou_per_class(pred, target, num_classes):
    classes = torch.arange(num_classes).unsqueeze(1)
    p, t = pred.flatten() == classes, target.flatten() == classes
    return (p & t).sum(dim=1) / (p | t).sum(dim=1)


def iou_loop(pred, target, num_classes):
    values = []
    for c in range(num_classes):
        union = ((pred == c) | (target == c)).sum().item()
        values.append(((pred == c) & (target == c)).sum().item() / union if union else float("nan"))
    return torch.tensor(values)


@pytest.mark.parametrize("fn", [iou_per_class, iou_loop])
def test_iou_per_class_accepts_correct_answers(fn) -> None:
    assert_accepted(check_iou_per_class, fn)


def iou_zero_when_absent(pred, target, num_classes):
    return torch.nan_to_num(iou_per_class(pred, target, num_classes), nan=0.0)


def recall_per_class(pred, target, num_classes):
    classes = torch.arange(num_classes).unsqueeze(1)
    p, t = pred.flatten() == classes, target.flatten() == classes
    return (p & t).sum(dim=1) / t.sum(dim=1).clamp(min=1) * torch.where(t.any(1) | p.any(1), 1.0, float("nan"))


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (iou_zero_when_absent, ["must give NaN"]),
        (recall_per_class, ["that is the recall"]),
        (lambda p, t, c: iou_per_class(p, t, int(max(p.max(), t.max())) + 1), ["absent classes included"]),
        (lambda p, t, c: (p == t).float().mean(), ["shape"]),
        (lambda p, t, c: iou_per_class(p, t, c).tolist(), ["return a tensor"]),
    ],
)
def test_iou_per_class_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_iou_per_class(fn, seed=0), *fragments)


# --- bad input ------------------------------------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_conv_output_size(42), "something callable")
    assert_rejected(check_iou_per_class(lambda p, t, c: p.view(-1, 7)), "your code raised RuntimeError", "input:")
    assert_rejected(check_conv_output_size(lambda *args: "14"), "return one int")

    def forever(size, kernel_size, stride, padding, dilation):
        while True:
            pass

    monkeypatch.setattr(nb04, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb04.check_conv_output_size(forever), "time limit of 0.5 s", "conv_output_size(size=")


# --- predict_classes (find the bug: a model left in training mode) -------------------------------------------
def predict_classes(model, images, batch_size=100):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


def predict_classes_buggy(model, images, batch_size=100):  # the notebook's bug: still in training mode
    with torch.no_grad():
        return torch.cat([model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


def predict_classes_frozen(model, images, batch_size=100):  # a wrong fix: requires_grad_ does not change the mode
    model.requires_grad_(False)
    return torch.cat([model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


def predict_classes_eval_restored(model, images, batch_size=100):  # right too: it restores the mode afterwards
    was_training = model.training
    try:
        return predict_classes(model, images, batch_size)
    finally:
        model.train(was_training)


@pytest.mark.parametrize("fn", [predict_classes, predict_classes_eval_restored])
def test_predict_classes_accepts_correct_answers(fn) -> None:
    assert_accepted(nb04.check_predict_classes, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (predict_classes_buggy, ["still in training mode", "model.eval()"]),
        (predict_classes_frozen, ["still in training mode", "model.eval()"]),
        (lambda m, x, b=100: m.eval()(x).argmax(dim=0), ["shape"]),
    ],
)
def test_predict_classes_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(nb04.check_predict_classes(fn, seed=0), *fragments)


def test_predict_classes_catches_a_model_changed_by_predicting() -> None:
    def train_mode_whole_set(model, images, batch_size=100):  # also updates the running statistics
        with torch.no_grad():
            model(images)
        return predict_classes(model, images, batch_size)

    assert_rejected(nb04.check_predict_classes(train_mode_whole_set, seed=1), "running statistics")
