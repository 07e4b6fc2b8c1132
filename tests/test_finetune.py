"""The fine-tuning recipe of notebook 07 (course_utils.finetune) on a tiny model: seconds on a CPU.

The model here is a small bag-of-embeddings classifier with dropout that speaks the transformers interface
(``model(input_ids=..., attention_mask=..., labels=...)`` returns ``.loss`` and ``.logits``), so every part of
the recipe runs without loading the pretrained encoder. Notebook 07 checks the same equality on the real one.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import datasets  # hard requirements: a broken install fails here, it does not skip
import pytest
import torch
import transformers
from torch import nn

from course_utils import finetune


class TinyClassifier(nn.Module):
    """Mean of token embeddings (padding masked out), dropout, linear: a transformers-style classifier."""

    def __init__(self, vocab: int = 50, width: int = 8, classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(width, classes)

    def forward(self, input_ids, attention_mask, labels=None, **_):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        logits = self.head(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SimpleNamespace(loss=loss, logits=logits)


def collate(rows: list[dict]) -> transformers.BatchEncoding:
    """Pad ``input_ids`` per batch, like DataCollatorWithPadding (pad id 0), and rename label -> labels."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
        mask[i, : len(row["input_ids"])] = 1
    labels = torch.tensor([r["label"] for r in rows])
    return transformers.BatchEncoding({"input_ids": ids, "attention_mask": mask, "labels": labels})


def toy_splits(n_train: int = 96, n_val: int = 24, seed: int = 0):
    """Rows whose label is whether token 7 occurs; lengths 3-20 so that grouping matters."""
    rng = torch.Generator().manual_seed(seed)

    def rows(n: int) -> dict[str, list]:
        ids, labels = [], []
        for _ in range(n):
            length = int(torch.randint(3, 21, (1,), generator=rng))
            seq = torch.randint(8, 50, (length,), generator=rng).tolist()
            label = int(torch.rand(1, generator=rng) < 0.4)
            if label:
                seq[int(torch.randint(0, length, (1,), generator=rng))] = 7
            ids.append(seq)
            labels.append(label)
        return {"input_ids": ids, "label": labels}

    return datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows(n_train)), "validation": datasets.Dataset.from_dict(rows(n_val))}
    )


# ------------------------------------------------------------------------------------------------ batches
def test_sampler_covers_every_row_once_in_length_groups() -> None:
    lengths = [int(n) for n in torch.randint(1, 60, (500,), generator=torch.Generator().manual_seed(1))]
    sampler = finetune.LengthGroupedBatchSampler(lengths, 16, torch.Generator().manual_seed(0), group_size=10)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 * 10 + 2  # 3 groups of 160 rows, then 20 rows in 2 batches
    assert sorted(i for b in batches for i in b) == list(range(500))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    random_batches = [list(range(500))[i : i + 16] for i in range(0, 500, 16)]
    padded_random = sum(len(b) * max(lengths[i] for i in b) for b in random_batches)
    assert padded < 0.75 * padded_random  # grouping by length saves padding
    assert list(sampler) != batches  # a new order every epoch


def test_sampler_resumes_from_the_generator_state() -> None:
    lengths = list(range(1, 101))
    generator = torch.Generator().manual_seed(3)
    sampler = finetune.LengthGroupedBatchSampler(lengths, 8, generator)
    list(sampler)  # epoch 1
    state = generator.get_state()
    epoch2 = list(sampler)
    generator.set_state(state)
    assert list(sampler) == epoch2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"batch_size": 0}, ValueError), ({"lengths": []}, ValueError), ({"generator": 0}, TypeError)],
)
def test_sampler_rejects_bad_arguments(kwargs: dict, error: type[Exception]) -> None:
    arguments = {"lengths": [3, 4], "batch_size": 2, "generator": torch.Generator(), **kwargs}
    with pytest.raises(error):
        finetune.LengthGroupedBatchSampler(**arguments)


def test_tokenize_splits_sorts_evaluation_splits_only() -> None:
    from course_utils.assets import encoder_path

    tokenizer = transformers.AutoTokenizer.from_pretrained(encoder_path())
    texts = ["a much longer sentence than the others here", "short", "medium length text", "x y"]
    split = datasets.Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1]})
    encoded = finetune.tokenize_splits(datasets.DatasetDict({"train": split, "test": split}), tokenizer, 6)
    assert "text" not in encoded["train"].column_names
    assert max(finetune.token_lengths(encoded["train"])) == 6  # truncated, not padded
    assert finetune.token_lengths(encoded["train"])[1] == 3  # [CLS] short [SEP]: train keeps its order
    assert finetune.token_lengths(encoded["test"]) == sorted(finetune.token_lengths(encoded["test"]))
    with pytest.raises(ValueError, match="text"):
        finetune.tokenize_splits(encoded, tokenizer, 6)


# ----------------------------------------------------------------------------------------- optimisation
def test_schedule_warms_up_like_trainer_and_ends_at_zero() -> None:
    model = TinyClassifier()
    model.embed.weight.requires_grad = False
    optimizer, scheduler = finetune.optimizer_and_schedule(model, 25, 1e-3, warmup_fraction=0.1)
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == 8 * 2 + 2  # trainable only
    rates = []
    for _ in range(25):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    warmup = math.ceil(0.1 * 25)  # Trainer's rule for warmup_steps=0.1
    assert rates[warmup - 1] == pytest.approx(1e-3) and rates[-1] == 0.0
    with pytest.raises(ValueError, match="warmup_fraction"):
        finetune.optimizer_and_schedule(model, 25, 1e-3, warmup_fraction=1.0)


def reference_loop(model, loaders, epochs, learning_rate, max_grad_norm):
    """The loop as notebook 07 writes it (without its checkpoints), built from PyTorch and scikit-learn alone, not
    from course_utils.finetune's own pieces: what fine_tune must reproduce. AdamW (fused, weight decay 0.01) and
    the linear warm-up schedule are written here as the recipe states them; the best epoch is chosen on a
    macro-F1 computed here."""
    from sklearn.metrics import f1_score

    total = epochs * len(loaders["train"])
    warmup = math.ceil(0.1 * total)  # Trainer's rule for warmup_steps=0.1
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step / warmup if step < warmup else max(0.0, (total - step) / (total - warmup))
    )
    losses, best, best_f1 = [], None, -1.0
    for _ in range(epochs):
        model.train()
        for batch in loaders["train"]:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        model.eval()
        labels, preds = [], []
        with torch.no_grad():
            for batch in loaders["validation"]:
                preds += model(**batch).logits.argmax(-1).tolist()
                labels += batch["labels"].tolist()
        f1 = f1_score(labels, preds, average="macro", zero_division=0)
        if f1 > best_f1:
            best_f1, best = f1, {k: v.clone() for k, v in model.state_dict().items()}
    return losses, best


def run_both(epochs: int = 3, learning_rate: float = 0.05, max_grad_norm: float = 0.5):
    data = toy_splits()
    runs = []
    for use_package in (False, True):
        torch.manual_seed(0)
        model = TinyClassifier()
        loaders = finetune.make_loaders(data, collate, 16, torch.Generator().manual_seed(0))
        if use_package:
            result = finetune.fine_tune(
                model, loaders["train"], loaders["validation"], torch.device("cpu"), epochs=epochs,
                learning_rate=learning_rate, max_grad_norm=max_grad_norm, progress=False,
            )
            runs.append((result.history["train_loss"], model.state_dict(), result))
        else:
            runs.append(reference_loop(model, loaders, epochs, learning_rate, max_grad_norm))
    return runs


def test_fine_tune_equals_the_loop_written_out() -> None:
    (ref_losses, ref_best), (losses, state, result) = run_both()
    assert losses == ref_losses  # identical, not merely close: same batches, same dropout, same steps
    assert all(torch.equal(state[k], ref_best[k]) for k in ref_best)
    assert losses[-1] < losses[0]
    assert result.scheduler.last_epoch == len(losses) and result.scheduler.get_last_lr()[0] == 0.0
    assert len(result.history["val_f1_macro"]) == 3 and 1 <= result.best_epoch <= 3


def test_clipping_is_part_of_the_recipe() -> None:
    (_, _), (clipped, _, _) = run_both(epochs=1, max_grad_norm=1e-4)
    (_, _), (free, _, _) = run_both(epochs=1, max_grad_norm=1e6)
    assert clipped != free


def test_best_epoch_on_validation_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    data = toy_splits()
    torch.manual_seed(0)
    model = TinyClassifier()
    loaders = finetune.make_loaders(data, collate, 16, torch.Generator().manual_seed(0))
    scores = iter([0.9, 0.5, 0.7])  # epoch 1 is the best on validation
    after_epoch = []
    real_evaluate = finetune.evaluate

    def fake_evaluate(model, loader, device):
        after_epoch.append({k: v.clone() for k, v in model.state_dict().items()})
        return {**real_evaluate(model, loader, device), "f1_macro": next(scores)}

    monkeypatch.setattr(finetune, "evaluate", fake_evaluate)
    result = finetune.fine_tune(
        model, loaders["train"], loaders["validation"], torch.device("cpu"), epochs=3, learning_rate=0.05,
        progress=False,
    )
    assert result.best_epoch == 1 and result.best_validation["f1_macro"] == 0.9
    assert all(torch.equal(model.state_dict()[k], after_epoch[0][k]) for k in after_epoch[0])
    assert not torch.equal(after_epoch[0]["head.weight"], after_epoch[2]["head.weight"])


def test_max_steps_caps_training_and_schedule() -> None:
    data = toy_splits()
    model = TinyClassifier()
    loaders = finetune.make_loaders(data, collate, 16, torch.Generator().manual_seed(0))
    result = finetune.fine_tune(
        model, loaders["train"], loaders["validation"], torch.device("cpu"), epochs=5, max_steps=8,
        learning_rate=0.05, progress=False,
    )
    assert len(result.history["train_loss"]) == 8 and len(result.history["val_f1_macro"]) == 2  # 6 + 2 steps
    assert result.scheduler.last_epoch == 8 and result.scheduler.get_last_lr()[0] == 0.0


def test_a_diverging_loss_stops_with_a_clear_error() -> None:
    data = toy_splits()
    model = TinyClassifier()
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    loaders = finetune.make_loaders(data, collate, 16, torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError, match="learning rate"):
        finetune.fine_tune(model, loaders["train"], loaders["validation"], torch.device("cpu"), epochs=1,
                           learning_rate=0.05, progress=False)


def test_evaluate_scores_unbalanced_classes_honestly() -> None:
    data = toy_splits()
    model = TinyClassifier()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([100.0, 0.0]))  # always class 0: the majority baseline
    loaders = finetune.make_loaders(data, collate, 16, torch.Generator().manual_seed(0))
    result = finetune.evaluate(model, loaders["validation"], torch.device("cpu"))
    share0 = 1 - sum(data["validation"]["label"]) / len(data["validation"])
    assert result["accuracy"] == pytest.approx(share0)
    assert result["balanced_accuracy"] == pytest.approx(0.5) and result["f1_macro"] < result["accuracy"]
    assert not model.training
    assert finetune.scores([1, 1], [1, 1]) == {"accuracy": 1.0, "f1_macro": 1.0, "balanced_accuracy": 1.0}
