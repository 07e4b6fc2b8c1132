"""Notebook 03b's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils.practice.checks.nb03b import (
    check_balanced_weights,
    check_collate_with_mask,
    check_predict_all,
    check_train_epoch_clipped,
    check_two_views,
)


# --- collate_with_mask ----------------------------------------------------------------------------------------
def collate_with_mask(batch, pad_id=0):
    sequences, labels = zip(*batch)
    ids = nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=pad_id)
    mask = nn.utils.rnn.pad_sequence([torch.ones_like(s) for s in sequences], batch_first=True)
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(labels)}


def collate_by_hand(batch, pad_id=0):  # bool mask, explicit loop: also right
    longest = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    for row, (seq, _) in enumerate(batch):
        ids[row, : len(seq)] = seq
    lengths = torch.tensor([len(seq) for seq, _ in batch])
    mask = torch.arange(longest)[None, :] < lengths[:, None]
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([y for _, y in batch])}


def mask_inverted(batch, pad_id=0):
    out = collate_with_mask(batch, pad_id)
    return {**out, "attention_mask": 1 - out["attention_mask"]}


def ignores_pad_id(batch, pad_id=0):
    return collate_with_mask(batch, 0)


def labels_as_list(batch, pad_id=0):
    return {**collate_with_mask(batch, pad_id), "labels": [y for _, y in batch]}


@pytest.mark.parametrize("fn", [collate_with_mask, collate_by_hand])
def test_collate_accepts_correct_answers(fn) -> None:
    assert_accepted(check_collate_with_mask, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (mask_inverted, ["['attention_mask']", "1 where there is a real token"]),
        (ignores_pad_id, ["['input_ids']", "with pad_id"]),
        (labels_as_list, ["['labels']", "a tensor is expected, got list"]),
        (lambda batch, pad_id=0: tuple(collate_with_mask(batch, pad_id).values()), ["a dict with keys"]),
    ],
)
def test_collate_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_collate_with_mask(fn, seed=0), *fragments)


# --- TwoViews -------------------------------------------------------------------------------------------------
class TwoViews(Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images.unsqueeze(1), transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.transform(self.images[i])


class OneCallTwice(TwoViews):
    def __getitem__(self, i):
        view = self.transform(self.images[i])
        return view, view


class NoChannel(TwoViews):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform


class WithLabel(TwoViews):
    def __getitem__(self, i):
        return self.transform(self.images[i]), self.transform(self.images[i]), 0


class StubViews(TwoViews):
    def __init__(self, images, transform):
        raise NotImplementedError("write your solution here")


def test_two_views_accepts_the_reference() -> None:
    assert_accepted(check_two_views, TwoViews)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (StubViews, ["not written yet"]),
        (OneCallTwice, ["transform called twice", "called 1 time(s)"]),
        (NoChannel, ["unsqueeze(0)", "shape"]),
        (WithLabel, ["a tuple (view1, view2)"]),
        (TwoViews(torch.zeros(2, 3, 3), None), ["pass the class, not an instance"]),
    ],
)
def test_two_views_rejects_wrong_answers(cls, fragments: list[str]) -> None:
    assert_rejected(check_two_views(cls, seed=1), *fragments)


# --- balanced_weights -----------------------------------------------------------------------------------------
def balanced_weights(labels):
    return 1.0 / torch.bincount(labels)[labels].double()


def balanced_weights_normalised(labels):  # any positive scale works for a sampler
    weights = 1.0 / torch.bincount(labels).float()[labels]
    return weights / weights.sum() * 7


@pytest.mark.parametrize("fn", [balanced_weights, balanced_weights_normalised])
def test_balanced_weights_accepts_correct_answers(fn) -> None:
    assert_accepted(check_balanced_weights, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda labels: torch.bincount(labels)[labels].double(), ["proportional to 1 / count"]),
        (lambda labels: 1.0 / torch.bincount(labels).double(), ["one weight per example", "per_class[labels]"]),
        (lambda labels: torch.ones(len(labels)), ["proportional to 1 / count"]),
    ],
)
def test_balanced_weights_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_balanced_weights(fn, seed=2), *fragments)


# --- train_one_epoch_clipped ----------------------------------------------------------------------------------
def train_one_epoch_clipped(model, loader, loss_fn, optimizer, max_norm):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def clips_before_backward(model, loader, loss_fn, optimizer, max_norm):
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def never_zeroes(model, loader, loss_fn, optimizer, max_norm):
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def mean_of_batch_means(model, loader, loss_fn, optimizer, max_norm):
    losses = []
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def test_train_epoch_clipped_accepts_the_reference() -> None:
    assert_accepted(check_train_epoch_clipped, train_one_epoch_clipped)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (clips_before_backward, ["clipping before backward clips nothing", "parameters after the epoch"]),
        (never_zeroes, ["parameters after the epoch", "zero_grad"]),
        (mean_of_batch_means, ["the returned mean loss", "divide by the number of examples"]),
        (lambda *args: (train_one_epoch_clipped(*args), None)[1], ["returned mean loss", "is a `return` missing?"]),
    ],
)
def test_train_epoch_clipped_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_train_epoch_clipped(fn, seed=3), *fragments)


# --- predict_all (find the bug) -----------------------------------------------------------------------------------
def _predict_with(shuffle: bool = False, drop_last: bool = False, eval_mode: bool = True, graph: bool = False):
    def predict_all(model: nn.Module, dataset: Dataset, batch_size: int) -> torch.Tensor:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
        if eval_mode:
            model.eval()
        with torch.set_grad_enabled(graph):
            return torch.cat([model(inputs).argmax(dim=-1).float().requires_grad_(graph) for inputs, _ in loader])

    return predict_all


def predict_all_one_pass(model: nn.Module, dataset: Dataset, batch_size: int) -> torch.Tensor:  # also correct
    model.eval()
    with torch.inference_mode():
        inputs = torch.stack([dataset[i][0] for i in range(len(dataset))])
        return model(inputs).argmax(dim=1)


@pytest.mark.parametrize("fn", [_predict_with(), predict_all_one_pass])
def test_predict_all_accepts_correct_answers(fn) -> None:
    assert_accepted(check_predict_all, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (_predict_with(shuffle=True, drop_last=True), ["input:", "got no prediction", "drop_last=True"]),
        (_predict_with(shuffle=True), ["another order", "shuffle=False"]),
        (_predict_with(eval_mode=False), ["dropout", "model.eval()"]),
        (_predict_with(graph=True), ["without a graph", "torch.no_grad()"]),
    ],
)
def test_predict_all_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_predict_all(fn, seed=0), *fragments)
