"""course_utils.loaders and course_utils.training: datasets, padding, the canonical loop."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

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


class _DictDataset(Dataset):
    """The toy data as Hugging Face-style examples: ``{"features": x, "labels": y}``."""

    def __init__(self, pairs: TensorDataset) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x, y = self.pairs[index]
        return {"features": x, "labels": y}


class _KeywordModel(nn.Module):
    """A Hugging Face-like model: keyword inputs, an output object whose ``.logits`` are the scores."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, features: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.linear(features), hidden=features)


def test_dict_batches_train_exactly_like_tuple_batches() -> None:
    """A mapping batch with "labels" gives model(**inputs).logits the same loop as a tuple batch."""

    def run(as_dict: bool) -> tuple[dict[str, list[float]], torch.Tensor]:
        train, val = _toy_loaders(seed=5)
        if as_dict:
            train = DataLoader(_DictDataset(train.dataset), batch_size=32, shuffle=True, generator=train.generator)
            val = DataLoader(_DictDataset(val.dataset), batch_size=64)
        torch.manual_seed(5)
        model = _KeywordModel() if as_dict else nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        history = training.fit(model, train, val, nn.CrossEntropyLoss(), opt, torch.device("cpu"), 3, progress=False)
        return history, training.predict(model, val, torch.device("cpu"))[0]

    (tuple_history, tuple_preds), (dict_history, dict_preds) = run(as_dict=False), run(as_dict=True)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert dict_history[key] == pytest.approx(tuple_history[key], abs=1e-7)
    assert dict_history["val_accuracy"][-1] > 0.95
    assert torch.equal(dict_preds, tuple_preds)


def test_dict_batch_without_labels_fails_with_advice() -> None:
    batch = {"features": torch.zeros(4, 2), "label": torch.zeros(4).long()}
    with pytest.raises(ValueError, match="'labels'.*rename_column"):
        training.evaluate(_KeywordModel(), [batch], nn.CrossEntropyLoss(), torch.device("cpu"))


def test_fit_trains_a_transformers_classifier_on_collated_batches() -> None:
    import transformers

    config = transformers.BertConfig(
        vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 20, (64, 6), generator=gen)
    ids[:32, 0], ids[32:, 0] = 3, 4  # the first token gives the class away
    batches = [
        {"input_ids": ids[i : i + 16], "attention_mask": torch.ones(16, 6, dtype=torch.long),
         "labels": (ids[i : i + 16, 0] == 4).long()}
        for i in range(0, 64, 16)
    ]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = training.fit(model, batches, batches, nn.CrossEntropyLoss(), opt, torch.device("cpu"), 8, progress=False)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] == 1.0
    preds, targets = training.predict(model, batches, torch.device("cpu"))
    assert preds.shape == targets.shape == (64,)


def test_train_steps_stops_at_max_steps_and_clips_before_the_step() -> None:
    """The one loop: ``max_steps`` batches and no more, and with ``max_grad_norm`` the update is the one an
    optimizer makes from gradients clipped to that norm (checked against a hand-made clipped SGD step)."""
    torch.manual_seed(0)
    x, y = torch.randn(40, 3) * 50, torch.randint(0, 2, (40,))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x[:8]), y[:8])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    scale = min(1.0, 0.1 / (torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item() + 1e-6))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    steps = list(training.train_steps(model, loader, nn.functional.cross_entropy, optimizer, torch.device("cpu"),
                                      max_grad_norm=0.1, max_steps=1, progress=False))
    assert len(steps) == 1 and steps[0] == (pytest.approx(loss.item()), 8)
    for p, b, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), b - scale * g)
    assert len(list(training.train_steps(model, loader, nn.functional.cross_entropy, optimizer,
                                         torch.device("cpu"), max_steps=3, progress=False))) == 3
