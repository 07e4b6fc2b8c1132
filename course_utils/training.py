"""The canonical training loop taught in notebook 03b, reused by later notebooks.

Notebook 03b writes these functions out line by line; later notebooks import them from here so the loop
exists once. The loop: get a batch, move it to the device, forward, loss, ``zero_grad``, ``backward``,
``step`` (and the scheduler after the optimizer).

There is one training loop (:func:`train_steps`) and one evaluation pass (:func:`outputs`): :func:`fit`,
:func:`train_one_epoch`, :func:`evaluate` and :func:`predict` are views of them for notebooks 03b-05, and
notebook 07's ``course_utils.finetune`` runs the same two with gradient clipping, a step limit and its richer
scores (macro-F1, balanced accuracy) instead of writing its own.

A batch is either a tuple ``(*inputs, target)`` (a ``TensorDataset``/``DataLoader`` batch: the model gets
``model(*inputs)``) or a mapping with a ``"labels"`` key (a Hugging Face batch from a data collator: the model
gets the other keys as keyword arguments, ``model(**inputs)``, and its output's ``.logits`` are scored when
it has them), so the same loop trains a CNN and a ``transformers`` classifier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.validation import require_positive_int, require_positive_number, require_tensor

Batch = tuple[torch.Tensor, ...] | Mapping[str, Any]
_EMPTY_LOADER = ("the {what} yielded no examples: its dataset is empty, or drop_last=True with fewer examples than "
                 "batch_size; check len(loader.dataset) and the batch size")


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _forward(model: nn.Module, batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Model output and target of one batch, both on ``device``.

    A tuple batch: the inputs are every element but the last, which is the target. A mapping batch (Hugging
    Face style): ``"labels"`` is the target, every other key a keyword argument of the model, and an output
    with a ``.logits`` attribute (a ``transformers`` ``ModelOutput``) is reduced to its logits.
    """
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise ValueError(
                f"a dict batch needs a 'labels' key with the targets, got keys {sorted(batch)}: "
                "rename the label column to 'labels' (dataset.rename_column('label', 'labels'))"
            )
        inputs = {key: _to(value, device) for key, value in batch.items() if key != "labels"}
        output = model(**inputs)
        return getattr(output, "logits", output), _to(batch["labels"], device)
    *args, target = (t.to(device) for t in batch)
    return model(*args), target


def _length(loader: Iterable[Batch]) -> int | None:
    """Number of batches if the loader knows it (an IterableDataset's loader may not)."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def train_steps(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    max_grad_norm: float | None = None,
    max_steps: int | None = None,
    desc: str = "train",
    progress: bool = True,
) -> Iterator[tuple[float, int]]:
    """The loop itself, one step per batch of ``loader`` (at most ``max_steps``): yields each step's loss and
    batch size. :func:`train_one_epoch` and notebook 07's ``finetune.train_epoch`` both run it.

    ``max_grad_norm`` clips the gradients' global norm between ``backward`` and ``step``. A NaN or infinite loss
    stops the loop with a clear error.
    """
    if max_grad_norm is not None:
        max_grad_norm = require_positive_number("max_grad_norm", max_grad_norm, example="1.0")
    if max_steps is not None:
        max_steps = require_positive_int("max_steps", max_steps, example="100 (or None: every batch)")
    model.train()
    # The bar is updated by hand, not wrapped around the loader: tqdm.auto's class calls iter() on what it
    # wraps, which would start a DataLoader a second time per epoch (a second set of workers, and one more
    # draw from the loader's generator, so the shuffle order would differ from a plain loop's).
    total = _length(loader)
    if total is not None and max_steps is not None:
        total = min(total, max_steps)
    with tqdm(total=total, desc=desc, leave=False, disable=not progress) as bar:
        for step, batch in enumerate(loader, start=1):
            output, target = _forward(model, batch, device)
            loss = loss_fn(output, target)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()}: lower the learning rate or check the inputs")
            optimizer.zero_grad()
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()  # after optimizer.step(), never before
            bar.update()
            yield loss.item(), len(target)
            if step == max_steps:
                break


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = True,
) -> float:
    """One pass over ``loader``; returns the mean training loss. Stops with a clear error if loss is NaN/inf,
    and if the loader yields no example at all (a mean loss of 0.0 over nothing would look like success)."""
    total, count = 0.0, 0
    for loss, size in train_steps(model, loader, loss_fn, optimizer, device, scheduler, progress=progress):
        total += loss * size
        count += size
    if count == 0:
        raise ValueError(_EMPTY_LOADER.format(what="training loader"))
    return total / count


@torch.no_grad()
def outputs(
    model: nn.Module,
    loader: Iterable[Batch],
    device: torch.device,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float | None, torch.Tensor, torch.Tensor]:
    """One pass in eval mode: the mean loss (None without ``loss_fn``), the predicted classes (argmax over the
    last dimension) and the true labels, both on the CPU. :func:`evaluate`, :func:`predict` and notebook 07's
    ``finetune.evaluate`` all score through it."""
    model.eval()
    total_loss, preds, targets = 0.0, [], []
    for batch in loader:
        output, target = _forward(model, batch, device)
        if loss_fn is not None:
            total_loss += loss_fn(output, target).item() * len(target)
        preds.append(output.argmax(dim=-1).cpu())
        targets.append(target.cpu())
    count = sum(len(t) for t in targets)
    if count == 0:
        raise ValueError(_EMPTY_LOADER.format(what="evaluation loader"))
    return (total_loss / count if loss_fn is not None else None), torch.cat(preds), torch.cat(targets)


def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device,
) -> tuple[float, float]:
    """Mean loss and accuracy (argmax over the last dimension) of ``model`` on ``loader``, in eval mode."""
    loss, preds, targets = outputs(model, loader, device, loss_fn)
    return cast(float, loss), int((preds == targets).sum()) / len(targets)


def predict(model: nn.Module, loader: Iterable[Batch], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and true labels over ``loader`` (both on the CPU)."""
    _, preds, targets = outputs(model, loader, device)
    return preds, targets


def fit(
    model: nn.Module,
    train_loader: Iterable[Batch],
    val_loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train for ``epochs`` and validate after each; returns the history (losses, accuracy, seconds).

    An empty training or validation loader raises a ValueError (it would otherwise "train" to a loss of 0.0).
    """
    epochs = require_positive_int("epochs", epochs, example="5")
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": [], "seconds": []}
    model.to(device)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device, scheduler, progress)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        for key, value in zip(history, (train_loss, val_loss, val_acc, time.perf_counter() - start)):
            history[key].append(value)
        if progress:
            print(f"epoch {epoch}: train loss {train_loss:.4f} | val loss {val_loss:.4f} | val acc {val_acc:.3f}")
    return history


def confusion_matrix(targets: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``num_classes`` x ``num_classes`` counts: row = true class, column = predicted class.

    ``targets`` and ``preds`` are integer class indices of the same shape (``logits.argmax(dim=-1)``, not the
    logits or probabilities: float values would be truncated to a class silently, so they are refused).
    """
    num_classes = require_positive_int("num_classes", num_classes, example="10")
    for name, labels in (("targets", targets), ("preds", preds)):
        require_tensor(name, labels, shape_hint="of class indices")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            fix = "take the predicted class with logits.argmax(dim=-1)" if name == "preds" else "use .long()"
            raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}: {fix}")
    if targets.shape != preds.shape:
        raise ValueError(f"targets {tuple(targets.shape)} and preds {tuple(preds.shape)} differ in shape")
    both = torch.cat([targets.flatten(), preds.flatten()])
    if len(both) and (int(both.max()) >= num_classes or int(both.min()) < 0):
        raise ValueError(f"labels must lie in [0, {num_classes}): got values from {int(both.min())} to "
                         f"{int(both.max())}; is num_classes={num_classes} right?")
    index = targets.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)

