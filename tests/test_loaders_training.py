"""course_utils.loaders and course_utils.training: datasets, padding, the canonical loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import training
from course_utils.environment import seed_everything
from course_utils.loaders import ImageDataset, PadCollate, SequenceDataset


def test_image_dataset_scales_and_adds_channel() -> None:
    ds = ImageDataset(torch.full((4, 5, 5), 255, dtype=torch.uint8), torch.arange(4))
    image, label = ds[2]
    assert image.shape == (1, 5, 5) and image.dtype == torch.float32 and image.max() == 1.0 and label == 2
    doubled = ImageDataset(torch.zeros(2, 1, 3, 3, dtype=torch.uint8), torch.zeros(2), transform=lambda x: x + 2)
    assert doubled[0][0].sum() == 18


def test_image_dataset_errors() -> None:
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ImageDataset(torch.zeros(3, 4, 4), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        ImageDataset(torch.zeros(3, 4), torch.zeros(3))


def test_pad_collate_pads_and_reports_lengths() -> None:
    ds = SequenceDataset([[1, 2, 3], [4], [5, 6]], [0, 1, 0])
    padded, lengths, labels = PadCollate(pad_id=9)([ds[i] for i in range(3)])
    assert padded.tolist() == [[1, 2, 3], [4, 9, 9], [5, 6, 9]]
    assert lengths.tolist() == [3, 1, 2] and labels.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="empty"):
        SequenceDataset([[1], []], [0, 1])
    with pytest.raises(ValueError, match="empty batch"):
        PadCollate()([])


def _toy_loaders(seed: int = 0) -> tuple[DataLoader, DataLoader]:
    gen = seed_everything(seed)
    x = torch.randn(256, 2, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=32, shuffle=True, generator=gen), DataLoader(ds, batch_size=64)


def test_fit_learns_a_separable_problem() -> None:
    train, val = _toy_loaders()
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.9)
    history = training.fit(
        model, train, val, nn.CrossEntropyLoss(), optimizer, torch.device("cpu"), 5, scheduler, progress=False
    )
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    preds, targets = training.predict(model, val, torch.device("cpu"))
    assert preds.shape == targets.shape == (256,)
    with pytest.raises(ValueError, match="epochs"):
        training.fit(model, train, val, nn.CrossEntropyLoss(), optimizer, torch.device("cpu"), 0)


def test_fit_is_deterministic() -> None:
    def run() -> list[float]:
        train, val = _toy_loaders(seed=3)
        torch.manual_seed(3)
        model = nn.Linear(2, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.01)
        return training.fit(model, train, val, nn.CrossEntropyLoss(), opt, torch.device("cpu"), 2, progress=False)[
            "train_loss"
        ]

    assert run() == run()


def test_nan_loss_stops_with_advice() -> None:
    train, _ = _toy_loaders()
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="learning rate"):
        training.train_one_epoch(
            model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1), torch.device("cpu"),
            progress=False,
        )


def test_evaluate_on_empty_loader() -> None:
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0).long()), batch_size=4)
    with pytest.raises(ValueError, match="no examples"):
        training.evaluate(nn.Linear(2, 2), empty, nn.CrossEntropyLoss(), torch.device("cpu"))


def test_confusion_matrix() -> None:
    cm = training.confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        training.confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="shape"):
        training.confusion_matrix(torch.tensor([0]), torch.tensor([0, 1]), 2)


def test_perplexity() -> None:
    assert training.perplexity(0.0) == 1.0
    assert training.perplexity(torch.log(torch.tensor(50.0)).item()) == pytest.approx(50.0)


class _CountingLoader:
    """A loader that counts how often it is started (a DataLoader starts workers and draws a seed each time)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader, self.starts = loader, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        self.starts += 1
        return iter(self.loader)


def test_progress_bar_starts_the_loader_once_per_epoch() -> None:
    train, val = _toy_loaders()
    counting = _CountingLoader(train)
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    training.fit(model, counting, val, nn.CrossEntropyLoss(), opt, torch.device("cpu"), 3, progress=True)
    assert counting.starts == 3


def test_fit_matches_a_plain_loop() -> None:
    """fit() must shuffle exactly like the hand-written loop of notebook 03b (same generator draws)."""

    def plain() -> list[float]:
        train, _ = _toy_loaders(seed=7)
        torch.manual_seed(7)
        model, losses = nn.Linear(2, 2), []
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            total = 0.0
            for x, y in train:
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
            losses.append(total / len(train.dataset))
        return losses

    train, val = _toy_loaders(seed=7)
    torch.manual_seed(7)
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = training.fit(model, train, val, nn.CrossEntropyLoss(), opt, torch.device("cpu"), 2, progress=True)
    assert history["train_loss"] == pytest.approx(plain(), abs=1e-7)
