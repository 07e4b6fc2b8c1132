"""Notebook 03c's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch import nn

from course_utils.practice.checks.nb03c import (
    check_decay_groups,
    check_early_stopping,
    check_init_for,
    check_val_accuracy,
)


# --- EarlyStopping --------------------------------------------------------------------------------------------
class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.epoch, self.waited = math.inf, 0, 0, 0

    def step(self, val_loss):
        self.epoch += 1
        if val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = val_loss, self.epoch, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


class StopsOneLate(EarlyStopping):
    def step(self, val_loss):
        super().step(val_loss)
        return self.waited > self.patience


class NeverResets(EarlyStopping):
    def step(self, val_loss):
        self.epoch += 1
        if val_loss < self.best - self.min_delta:
            self.best, self.best_epoch = val_loss, self.epoch
        else:
            self.waited += 1
        return self.waited >= self.patience


class IgnoresMinDelta(EarlyStopping):
    def step(self, val_loss):
        self.min_delta = 0.0
        return super().step(val_loss)


class StubStopping(EarlyStopping):
    def __init__(self, patience, min_delta=0.0):
        raise NotImplementedError("write your solution here")


def test_early_stopping_accepts_the_reference() -> None:
    assert_accepted(check_early_stopping, EarlyStopping)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (StubStopping, ["not written yet"]),
        (StopsOneLate, ["step returns True", "reaches patience (>=)"]),
        (NeverResets, ["step returns", "reset the count to 0"]),
        (IgnoresMinDelta, ["below best - min_delta"]),
        (EarlyStopping(2), ["pass the class, not an instance"]),
    ],
)
def test_early_stopping_rejects_wrong_answers(cls, fragments: list[str]) -> None:
    assert_rejected(check_early_stopping(cls, seed=0), *fragments)


# --- init_for -------------------------------------------------------------------------------------------------
def init_for(layer, nonlinearity):
    if nonlinearity == "relu":
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    else:
        nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain("tanh"))
    nn.init.zeros_(layer.bias)


def init_for_uniform(layer, nonlinearity):  # a uniform distribution of the right std is right too
    fan_out, fan_in = layer.weight.shape
    std = math.sqrt(2 / fan_in) if nonlinearity == "relu" else 5 / 3 * math.sqrt(2 / (fan_in + fan_out))
    with torch.no_grad():
        layer.weight.uniform_(-std * math.sqrt(3), std * math.sqrt(3))
        layer.bias.zero_()


def fan_out_mode(layer, nonlinearity):
    if nonlinearity == "relu":
        nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    else:
        init_for(layer, nonlinearity)
    nn.init.zeros_(layer.bias)


def xavier_no_gain(layer, nonlinearity):
    if nonlinearity == "relu":
        init_for(layer, nonlinearity)
    else:
        nn.init.xavier_normal_(layer.weight)
        nn.init.zeros_(layer.bias)


def keeps_bias(layer, nonlinearity):
    bias = layer.bias.detach().clone()
    init_for(layer, nonlinearity)
    with torch.no_grad():
        layer.bias.copy_(bias)


def new_parameters(layer, nonlinearity):
    fresh = nn.Linear(layer.in_features, layer.out_features)
    init_for(fresh, nonlinearity)
    layer.weight, layer.bias = fresh.weight, fresh.bias


@pytest.mark.parametrize("fn", [init_for, init_for_uniform])
def test_init_for_accepts_correct_answers(fn) -> None:
    assert_accepted(check_init_for, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda layer, nonlinearity: layer.reset_parameters(), ["weights of mean 0 and std"]),
        (fan_out_mode, ["matches fan_out instead of fan_in"]),
        (xavier_no_gain, ["lacks tanh's gain of 5/3"]),
        (keeps_bias, ["bias all zeros"]),
        (new_parameters, ["changed in place"]),
    ],
)
def test_init_for_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_init_for(fn, seed=0), *fragments)


# --- decay_groups ---------------------------------------------------------------------------------------------
def decay_groups(model, weight_decay):
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def decay_by_name(model, weight_decay):  # by name and module type: also right for these models
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            norm = isinstance(module, (nn.LayerNorm, nn.BatchNorm1d))
            (no_decay if name == "bias" or norm else decay).append(p)
    return ({"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay})


def decays_everything(model, weight_decay):
    return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay},
            {"params": [], "weight_decay": 0.0}]


def only_biases_spared(model, weight_decay):  # LayerNorm scales still decayed
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if not n.endswith("bias")], "weight_decay": weight_decay},
            {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0}]


def includes_frozen(model, weight_decay):
    return [{"params": [p for p in model.parameters() if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}]


@pytest.mark.parametrize("fn", [decay_groups, decay_by_name])
def test_decay_groups_accepts_correct_answers(fn) -> None:
    assert_accepted(check_decay_groups, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (decays_everything, ["with weight_decay=0.0", "biases and normalisation scales"]),
        (only_biases_spared, ["weight_decay=0.0", "LayerNorm scale"]),
        (includes_frozen, ["(frozen) in no group"]),
        (lambda model, wd: list(model.parameters()), ["a list of two dicts"]),
    ],
)
def test_decay_groups_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_decay_groups(fn, seed=0), *fragments)


# --- val_accuracy (find the bug) ------------------------------------------------------------------------------
def val_accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        predictions = model(images).argmax(dim=-1)
    return (predictions == labels).float().mean().item()


def buggy_val_accuracy(model, images, labels):  # what the student edition starts from: dropout left on
    with torch.no_grad():
        predictions = model(images).argmax(dim=-1)
    return (predictions == labels).float().mean().item()


def seeded_dropout(model, images, labels):  # a wrong fix: repeatable, but still with dropout
    torch.manual_seed(0)
    return buggy_val_accuracy(model, images, labels)


def eval_not_called(model, images, labels):  # a wrong fix: model.eval without the call
    model.eval  # noqa: B018
    return buggy_val_accuracy(model, images, labels)


def test_val_accuracy_accepts_the_fix() -> None:
    assert_accepted(check_val_accuracy, val_accuracy)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (buggy_val_accuracy, ["dropout is still on", "model.eval()"]),
        (seeded_dropout, ["dropout is still on", "model.eval()"]),
        (eval_not_called, ["dropout is still on", "with the parentheses"]),
        (lambda model, images, labels: (model.eval(), model(images).argmax(-1) == labels)[1],
         ["a Python float"]),
    ],
)
def test_val_accuracy_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_val_accuracy(fn, seed=0), *fragments)
