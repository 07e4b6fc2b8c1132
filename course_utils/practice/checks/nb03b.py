"""Checkers for notebook 03b (data utilities): a padding collate with a mask, a two-view dataset, sampler
weights for imbalanced classes, and the training loop with gradient clipping."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import (
    CheckResult,
    exercise,
    fail,
    require_callable,
    require_class,
    run_check,
    show,
    tensor_problem,
)


# --- Exercise 1: collate with padding and an attention mask --------------------------------------------------
@exercise("03b", "collate_with_mask")
def check_collate_with_mask(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``collate_with_mask(batch, pad_id=0)``: ``batch`` is a list of ``(ids, label)`` pairs, ``ids`` a 1-d
    int64 tensor of any length; return a dict with ``"input_ids"`` (``[B, T_max]``, padded at the end with
    ``pad_id``), ``"attention_mask"`` (``[B, T_max]``, 1 on real tokens and 0 on padding) and ``"labels"``
    (``[B]`` int64), the batch format of Hugging Face models. Tried with random lengths and pad ids."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_collate_with_mask(collate_with_mask)")
        for trial in range(trials):
            lengths = [rng.randint(1, 7) for _ in range(rng.randint(1, 5))]
            pad_id = 0 if trial % 2 == 0 else rng.randint(90, 99)
            batch = [(torch.randint(1, 60, (n,), generator=gen), rng.randint(0, 4)) for n in lengths]
            keyword = "" if pad_id == 0 else f", pad_id={pad_id}"
            case = current["case"] = (f"collate_with_mask(batch{keyword}), batch = "
                                      f"{[(ids.tolist(), y) for ids, y in batch]}")
            got = fn(batch) if pad_id == 0 else fn(batch, pad_id=pad_id)
            want_ids = torch.full((len(lengths), max(lengths)), pad_id, dtype=torch.long)
            want_mask = torch.zeros_like(want_ids)
            for row, (ids, _) in enumerate(batch):
                want_ids[row, : len(ids)], want_mask[row, : len(ids)] = ids, 1
            want_labels = torch.tensor([y for _, y in batch])
            if not isinstance(got, dict) or sorted(got) != ["attention_mask", "input_ids", "labels"]:
                keys = sorted(got) if isinstance(got, dict) else type(got).__name__
                raise fail(case, "a dict with keys ['attention_mask', 'input_ids', 'labels']", keys,
                           'return {"input_ids": ..., "attention_mask": ..., "labels": ...}')
            hints = {
                "input_ids": f"pad every sequence at the end to the longest, with pad_id ({pad_id} here)",
                "attention_mask": "1 where there is a real token, 0 on padding (per row: the first len(ids) are 1)",
                "labels": "one label per example, as a tensor: torch.tensor(labels)",
            }
            for key, want in (("input_ids", want_ids), ("attention_mask", want_mask), ("labels", want_labels)):
                value = got[key]
                if isinstance(value, torch.Tensor) and value.dtype == torch.bool:
                    value = value.long()
                if problem := tensor_problem(value, want):
                    raise fail(f"{case}; [{key!r}]", show(want), show(got[key]), f"{problem}; {hints[key]}")

    return run_check("collate_with_mask", trials, body)


# --- Exercise 2: a dataset of two views -----------------------------------------------------------------------
class _CountingTransform:
    """A stand-in for a random augmentation: adds 1000 times the call number, and remembers its inputs."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.calls.append(image.clone())
        return image.float() + 1000 * len(self.calls)


@exercise("03b", "two_views")
def check_two_views(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a ``TwoViews(images, transform)`` dataset: ``images`` is a uint8 tensor ``[N, H, W]``;
    ``len(ds) == N`` and ``ds[i]`` is ``(transform(image), transform(image))`` with ``image = images[i]`` given a
    channel axis (``[1, H, W]``): the transform called **twice**, so a random augmentation gives two different
    views. The checker's transform adds 1000 times its call number, so it can tell the calls apart."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_two_views(TwoViews)")
        for _ in range(trials):
            n, h, w = rng.randint(1, 6), rng.randint(2, 5), rng.randint(2, 5)
            images = torch.randint(0, 256, (n, h, w), generator=gen, dtype=torch.uint8)
            transform = _CountingTransform()
            case = current["case"] = f"TwoViews(images of shape {(n, h, w)}, transform)"
            ds = cls(images, transform)
            if len(ds) != n:
                raise fail(f"len({case})", n, len(ds), "one item per image")
            i = rng.randrange(n)
            current["case"] = f"{case}[{i}]"
            before = len(transform.calls)
            item = ds[i]
            calls = transform.calls[before:]
            if not isinstance(item, tuple) or len(item) != 2:
                raise fail(current["case"], "a tuple (view1, view2)", item, "return the two views as a tuple")
            if len(calls) != 2:
                raise fail(current["case"], "transform called twice (once per view)", f"called {len(calls)} time(s)",
                           "call self.transform(image) twice: one call reused gives two identical views")
            image = images[i].unsqueeze(0)
            for call in calls:
                if problem := tensor_problem(call, image):
                    raise fail(current["case"], f"transform called with images[{i}] as [1, {h}, {w}]",
                               problem, "add the channel axis: images[i].unsqueeze(0) (or images.unsqueeze(1))")
            if problem := tensor_problem(item[0], image.float() + 1000 * (before + 1)) or tensor_problem(
                item[1], image.float() + 1000 * (before + 2)
            ):
                raise fail(current["case"], "(first transform result, second transform result)", problem,
                           "return what the two calls returned, unchanged")

    return run_check("TwoViews dataset", trials, body)


# --- Exercise 3: weights for a balanced sampler ---------------------------------------------------------------
@exercise("03b", "balanced_weights")
def check_balanced_weights(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``balanced_weights(labels)``: for a 1-d int64 tensor of class labels, one weight per example,
    proportional to 1 / (the number of examples of its class), so that ``WeightedRandomSampler`` draws every
    class equally often. Any positive scale is accepted; labels need not use every class id."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_balanced_weights(balanced_weights)")
        for _ in range(trials):
            classes = rng.randint(2, 5)
            sizes = [rng.choice([0, 1, 2, 5, 10, 30]) for _ in range(classes)]
            sizes[rng.randrange(classes)] += 1  # at least one example
            labels = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
            labels = labels[torch.randperm(len(labels), generator=gen)]
            case = current["case"] = f"balanced_weights(labels) with class sizes {sizes} (shuffled)"
            got = fn(labels.clone())
            counts = torch.bincount(labels)
            want = 1.0 / counts[labels].double()
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise fail(case, f"a tensor of shape {tuple(want.shape)} (one weight per example)", shape,
                           "index the per-class values with the labels: per_class[labels]")
            got = got.double()
            if not bool((got > 0).all()) or tensor_problem(got / got.sum(), want / want.sum(), 1e-9):
                raise fail(case, "weights proportional to 1 / count of the example's class", show(got, 150),
                           "count each class (torch.bincount), then 1.0 / counts[labels]")

    return run_check("balanced_weights", trials, body)


# --- Exercise 4: the training loop with gradient clipping -----------------------------------------------------
def _reference_epoch(model: nn.Module, loader: DataLoader, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                     max_norm: float) -> float:
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


@exercise("03b", "train_epoch_clipped")
def check_train_epoch_clipped(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``train_one_epoch_clipped(model, loader, loss_fn, optimizer, max_norm)``: the canonical loop (batch,
    forward, loss, ``zero_grad``, ``backward``, step) with ``nn.utils.clip_grad_norm_(model.parameters(),
    max_norm)`` between ``backward`` and ``step``; returns the mean loss per example (each batch's loss weighted
    by its size: the last batch may be smaller). Compared with a reference loop on small random regressions whose
    gradients are large enough for clipping to matter: the same parameters after the epoch, the same mean loss."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_train_epoch_clipped(train_one_epoch_clipped)")
        for _ in range(trials):
            n, d, batch = rng.randint(7, 30), rng.randint(1, 5), rng.randint(2, 6)
            while n % batch == 0:
                n += 1
            x = torch.randn(n, d, generator=gen, dtype=torch.float64)
            y = x @ torch.randn(d, 1, generator=gen, dtype=torch.float64) * 5 + 3
            torch.manual_seed(rng.randrange(2**31))
            model = nn.Sequential(nn.Linear(d, 4), nn.Tanh(), nn.Linear(4, 1)).double()
            twin = copy.deepcopy(model)
            max_norm, lr = rng.choice([0.1, 0.5, 1.0]), rng.choice([0.05, 0.1])
            case = current["case"] = (f"train_one_epoch_clipped(model, loader, MSELoss(), SGD(lr={lr}), "
                                      f"max_norm={max_norm}) on {n} random examples, batch_size={batch}")
            got = fn(model, DataLoader(TensorDataset(x, y), batch_size=batch), nn.MSELoss(),
                     torch.optim.SGD(model.parameters(), lr=lr), max_norm)
            want = _reference_epoch(twin, DataLoader(TensorDataset(x, y), batch_size=batch), nn.MSELoss(),
                                    torch.optim.SGD(twin.parameters(), lr=lr), max_norm)
            got_params = torch.cat([p.detach().flatten() for p in model.parameters()])
            want_params = torch.cat([p.detach().flatten() for p in twin.parameters()])
            if problem := tensor_problem(got_params, want_params, atol=1e-9, rtol=1e-7):
                raise fail(f"{case}; the parameters after the epoch", show(want_params, 120), show(got_params, 120),
                           f"{problem}; per batch: zero_grad, backward, clip_grad_norm_(model.parameters(), "
                           "max_norm), step (clipping before backward clips nothing)")
            if not isinstance(got, (int, float)) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
                raise fail(f"{case}; the returned mean loss", want, got,
                           "sum loss.item() * len(batch) over batches, divide by the number of examples")

    return run_check("train_one_epoch_clipped", trials, body)


# --- Exercise 5 (find the bug): predictions for every example, in the dataset's order ---------------------------
@exercise("03b", "predict_all")
def check_predict_all(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``predict_all(model, dataset, batch_size)``: the predicted class (argmax of the logits) of every
    example of a map-style dataset of ``(input, label)`` pairs, as one 1-d tensor in the dataset's order, computed
    in evaluation mode (the checker's model has dropout) and without building a graph."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_predict_all(predict_all)")
        for _ in range(trials):
            n_in, n_classes = rng.randint(2, 6), rng.randint(2, 5)
            batch_size = rng.randint(2, 6)
            n = batch_size * rng.randint(1, 4) + rng.randint(1, batch_size - 1)  # a short last batch
            torch.manual_seed(rng.randrange(2**31))
            model = nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, n_classes))
            x = torch.randn(n, n_in, generator=gen) * 3
            dataset = TensorDataset(x, torch.randint(0, n_classes, (n,), generator=gen))
            model.eval()
            with torch.no_grad():
                want = model(x).argmax(dim=-1)
            model.train()  # as a training loop leaves it
            case = current["case"] = (f"predict_all(model with dropout, in train mode, TensorDataset of {n} "
                                      f"examples, batch_size={batch_size})")
            got = fn(model, dataset, batch_size)
            if not isinstance(got, torch.Tensor):
                raise fail(case, f"a tensor of {n} class ids", got, "torch.cat the argmax of each batch's logits")
            if got.requires_grad:
                raise fail(case, "a tensor without a graph", "a tensor that requires grad",
                           "predict under torch.no_grad() (or inference_mode): evaluation records nothing")
            got = got.detach().cpu().long().flatten()
            if len(got) != n:
                raise fail(case, f"{n} predictions", f"{len(got)} predictions",
                           f"{n - len(got)} of the {n} examples got no prediction: drop_last=True drops the last "
                           "short batch, and an evaluation must see every example" if len(got) < n else
                           "one prediction per example")
            if torch.equal(got, want):
                continue
            if torch.equal(got.sort().values, want.sort().values) and not torch.equal(got, want):
                hint = ("the right predictions in another order: a shuffled loader visits the examples in a random "
                        "order, so prediction i is not example i's. Evaluate with shuffle=False")
            else:
                hint = ("the predictions vary with dropout: call model.eval() before predicting (dropout off), "
                        "or take the argmax of the logits along the class axis")
            raise fail(case, show(want, 60), show(got, 60), hint)

    return run_check("predict_all", trials, body)
