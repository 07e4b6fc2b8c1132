"""Checkers for notebook 04 (CNNs): the output size of a convolution or pooling layer, a conv block with batch
norm, predicting in evaluation mode (a find-the-bug: a model left in training mode), choosing a training recipe on
the validation split (never the test set), and the per-class IoU of a segmentation.

The references are PyTorch itself where it can be (the size a real ``F.conv2d`` produces, the functional
batch norm on the learner's own weights). The checkers never touch the global random state (the notebook seeds
its model right after them): layers are built under ``torch.random.fork_rng``.
"""

from __future__ import annotations

import copy
import math
import numbers
import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.practice.checks._common import random_source, random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


# --- Exercise 1: the output size of a conv or pooling layer ---------------------------------------------------
def _size_hint(got: numbers.Real, size: int, k: int, s: int, p: int, d: int) -> str:
    """Name the usual slip behind a wrong output size."""
    span = d * (k - 1) + 1  # pixels one (dilated) kernel covers
    if isinstance(got, float) and not got.is_integer():
        return "a size is a whole number of positions: round down with // (floor), not /"
    slips = {
        "round down (floor, as PyTorch does with ceil_mode=False), not up": math.ceil((size + 2 * p - span) / s) + 1,
        "a dilated kernel covers dilation * (kernel_size - 1) + 1 pixels": (size + 2 * p - k) // s + 1,
        "padding adds pixels on BOTH sides: + 2 * padding": (size + p - span) // s + 1,
        "count the first position too: ... // stride + 1": (size + 2 * p - span) // s,
        "divide by the stride: each step moves the kernel stride pixels": size + 2 * p - span + 1,
    }
    for hint, value in slips.items():
        if got == value:
            return hint
    return "out = (size + 2*padding - dilation*(kernel_size - 1) - 1) // stride + 1"


@exercise("04", "conv_output_size")
def check_conv_output_size(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``conv_output_size(size, kernel_size, stride, padding, dilation)`` -> int: the height (or width) of
    the output of ``nn.Conv2d`` or ``nn.MaxPool2d`` with those settings on an input ``size`` pixels high. The
    reference is the shape a real ``F.conv2d`` returns."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_conv_output_size(conv_output_size)")
        for trial in range(trials):
            k = rng.choice([1, 2, 3, 3, 5, 7])
            s = rng.choice([1, 2, 2, 3])
            p = rng.randint(0, k // 2) if trial % 2 else 0
            d = rng.choice([2, 3]) if trial % 4 == 3 else 1
            size = rng.randint(d * (k - 1) + 1 - 2 * p + (trial == 0), 33)
            size = max(size, 1)
            case = current["case"] = (f"conv_output_size(size={size}, kernel_size={k}, stride={s}, padding={p}, "
                                      f"dilation={d})")
            want = F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0),
                            dilation=(d, 1)).shape[2]
            got = fn(size, k, s, p, d)
            if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
                got = int(got)
            if isinstance(got, bool) or not isinstance(got, numbers.Integral) or got != want:
                hint = (_size_hint(got, size, k, s, p, d) if isinstance(got, numbers.Real) and not isinstance(got, bool)
                        else "return one int, the number of output positions along this side")
                if isinstance(got, float) and got == want:
                    hint = "the right value, but as a float: return an int (// keeps ints)"
                raise fail(case, want, got, hint)

    return run_check("conv_output_size", trials, body)


# --- Exercise 2: a conv block with batch norm -----------------------------------------------------------------
def _block_reference(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d, order: str) -> torch.Tensor:
    """conv -> batch norm (training mode: batch statistics) -> ReLU -> 2x2 max-pool, in the order named."""
    steps = {
        "conv": lambda t: F.conv2d(t, conv.weight, conv.bias, padding=1),
        "bn": lambda t: F.batch_norm(t, None, None, bn.weight, bn.bias, training=True, eps=bn.eps),
        "relu": F.relu,
        "pool": lambda t: F.max_pool2d(t, 2),
    }
    for step in order.split():
        x = steps[step](x)
    return x


_ORDER_SLIPS = {
    "conv relu bn pool": "ReLU after the batch norm: conv -> BatchNorm2d -> ReLU -> MaxPool2d",
    "conv pool bn relu": "pool last: the batch norm normalises the convolution's full-size output",
    "conv bn pool relu": "ReLU before the max-pool (the notebook's order: conv, batch norm, ReLU, pool)",
    "conv relu pool bn": "the batch norm comes right after the convolution",
    "conv bn pool": "a ReLU is missing: conv -> BatchNorm2d -> ReLU -> MaxPool2d",
}


@exercise("04", "conv_block")
def check_conv_block(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``conv_block(c_in, c_out)`` -> an ``nn.Module``: one 3x3 convolution from ``c_in`` to ``c_out``
    channels that keeps the size (``padding=1``), a ``BatchNorm2d(c_out)``, a ReLU and a 2x2 max-pool, in that
    order. Its output in training mode is compared with the same steps done with the functional API on the
    block's own weights (the bias of the convolution may be there or not: batch norm cancels it)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_conv_block(conv_block)")
        for _ in range(trials):
            c_in, c_out = rng.randint(1, 4), rng.randint(2, 8)
            batch, h, w = rng.randint(2, 4), rng.randint(4, 11), rng.randint(4, 11)
            case = current["case"] = f"conv_block({c_in}, {c_out}) on a batch of shape {(batch, c_in, h, w)}"
            with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
                torch.manual_seed(rng.randrange(2**31))
                block = fn(c_in, c_out)
            _check_layers(block, case, c_in, c_out)
            conv = next(m for m in block.modules() if isinstance(m, nn.Conv2d))
            bn = next(m for m in block.modules() if isinstance(m, nn.BatchNorm2d))
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5, generator=gen)  # not the 1/0 of a fresh layer: the check sees them
                bn.bias.uniform_(-0.5, 0.5, generator=gen)
                x = torch.randn(batch, c_in, h, w, generator=gen)
                want = _block_reference(x, conv, bn, "conv bn relu pool")
                got = block.train()(x.clone())
            if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
                hint = "conv -> BatchNorm2d -> ReLU -> MaxPool2d(2), each once"
                if isinstance(got, torch.Tensor) and got.shape[-2:] == (h, w):
                    hint = "the block must halve the size: end with nn.MaxPool2d(2)"
                for order, slip in _ORDER_SLIPS.items():
                    other = _block_reference(x, conv, bn, order)
                    if isinstance(got, torch.Tensor) and got.shape == other.shape and torch.allclose(
                            got, other, atol=1e-4):
                        hint = slip
                raise fail(case, show(want, 120), show(got, 120), f"{problem}; {hint}")

    return run_check("conv_block", trials, body)


def _check_layers(block: object, case: str, c_in: int, c_out: int) -> None:
    """Fail with a named reason unless ``block`` is a module with one fitting Conv2d and one BatchNorm2d."""
    if not isinstance(block, nn.Module):
        raise fail(case, "an nn.Module (e.g. nn.Sequential(...))", f"{type(block).__name__} {show(block, 80)}",
                   "return the block: nn.Sequential(nn.Conv2d(...), nn.BatchNorm2d(...), nn.ReLU(), nn.MaxPool2d(2))")
    if not list(block.parameters()):
        raise fail(case, "a module with parameters", "no parameters registered",
                   "layers kept in a plain Python list are invisible to PyTorch: use nn.Sequential or nn.ModuleList")
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != 1:
        raise fail(case, "one nn.Conv2d", f"{len(convs)} nn.Conv2d layers", "one 3x3 convolution per block")
    conv = convs[0]
    padding = (1, 1) if conv.padding == "same" else conv.padding  # "same" is padding 1 for a 3x3 kernel
    got = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding, conv.dilation)
    if got != (c_in, c_out, (3, 3), (1, 1), (1, 1), (1, 1)):
        raise fail(case, f"nn.Conv2d({c_in}, {c_out}, kernel_size=3, stride=1, padding=1)", f"{conv}",
                   "3x3 kernel, padding=1 keeps height and width (the pooling halves them), from c_in to c_out")
    if len(bns) != 1 or bns[0].num_features != c_out:
        raise fail(case, f"one nn.BatchNorm2d({c_out})", ", ".join(map(str, bns)) or "no BatchNorm2d",
                   "BatchNorm2d normalises each of the convolution's c_out output channels: nn.BatchNorm2d(c_out)")


# --- Exercise 3: choose a recipe on the validation split (model selection) ------------------------------------
RECIPES = [
    "peak lr 0.01 (section 4)", "peak lr 0.003", "peak lr 0.03", "no augmentation", "no label smoothing",
    "16-32-64 channels", "weight decay 0", "batch size 128",
]


class _Run(dict):
    """One recipe's history, as ``fit`` returns it, that notes whether anyone read its ``test_accuracy``."""

    test_read = False

    def __getitem__(self, key: Any) -> Any:
        if key == "test_accuracy":
            self.test_read = True
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "test_accuracy":
            self.test_read = True
        return super().get(key, default)


def _selection_case(rng: random.Random, trial: int) -> tuple[dict[str, _Run], str]:
    """Runs on which every plausible rule agrees on the winner, except for the traps of this trial, each laid on a
    recipe of its own; returns the runs and the right answer. The first run, like section 4's, always carries a
    test score, and no trap but the test trap is laid on it."""
    n = rng.randint(4, 6)
    names = rng.sample(RECIPES, n)
    traps = [["test", "best epoch"], ["val_loss", "train_loss"], ["tie", "test", "val_loss"],
             ["best epoch", "train_loss", "test"]][trial % 4]
    first = 1 if "test" in traps else 0  # the test trap needs a first run that is not the winner
    winner = rng.randrange(first, n - 1) if "tie" in traps else rng.randrange(first, n)  # a tie: a later partner
    finals = [round(v / 500, 3) for v in rng.sample(range(470, 494), n)]  # a 500-image validation split
    best = max(finals)
    finals[finals.index(best)], finals[winner] = finals[winner], best
    epochs = rng.randint(2, 6)
    runs: dict[str, _Run] = {}
    for i, (name, final) in enumerate(zip(names, finals)):
        val_acc = sorted(round(final - rng.randint(1, 25) / 500, 3) for _ in range(epochs - 1)) + [final]  # last best
        val_loss = [round(0.5 + 3 * (1 - a), 4) for a in val_acc]  # the most accurate run has the lowest loss
        train_loss = [round(0.55 + 2 * (1 - final) + 0.1 * (epochs - e), 4) for e in range(1, epochs + 1)]
        runs[name] = _Run(train_loss=train_loss, val_loss=val_loss, val_accuracy=val_acc,
                          seconds=[round(2.5 * e, 1) for e in range(1, epochs + 1)])
        if i == 0 or trial % 3 == 1:  # the first run was scored on the test set (section 5); sometimes all were
            runs[name]["test_accuracy"] = round(final - 0.004, 3)
    pool = [names[i] for i in range(1, n) if i != winner]  # never the first run: only the test trap uses it
    rng.shuffle(pool)
    for trap in traps:
        if trap == "test":  # the run already scored on the test set scores best there
            runs[names[0]]["test_accuracy"] = 0.997
            continue
        if trap == "tie":  # a later recipe reaches the same final accuracy: the first listed is kept
            partner = names[rng.randrange(winner + 1, n)]
            pool.remove(partner)
            runs[partner]["val_accuracy"][-1] = best
            continue
        if not pool:
            break
        run = runs[pool.pop()]
        if trap == "best epoch":  # an earlier epoch beat every final one, but the final weights are kept
            run["val_accuracy"][rng.randrange(epochs - 1)] = round(best + 4 / 500, 3)
        elif trap == "val_loss":
            run["val_loss"][-1] = round(runs[names[winner]]["val_loss"][-1] - 0.02, 4)
        else:
            run["train_loss"][-1] = round(runs[names[winner]]["train_loss"][-1] - 0.05, 4)
    return runs, names[winner]


def _describe_runs(runs: dict[str, _Run]) -> str:
    parts = []
    for name, run in runs.items():
        test = f", test_accuracy: {dict.__getitem__(run, 'test_accuracy')}" if "test_accuracy" in run else ""
        parts.append(f"{name!r}: {{val_accuracy: {dict.__getitem__(run, 'val_accuracy')}, "
                     f"val_loss: {dict.__getitem__(run, 'val_loss')}, "
                     f"train_loss: {dict.__getitem__(run, 'train_loss')}{test}}}")
    return "pick_by_validation(runs), runs = {" + ", ".join(parts) + "}"


def _selection_hint(runs: dict[str, _Run], got: Any, want: str) -> str:
    """Name the rule behind a wrong choice."""
    if not isinstance(got, str) or got not in runs:
        return (f"return the NAME of the chosen recipe, one of the keys of runs: {list(runs)} (not its score or "
                "its history)")
    plain = {name: dict(run) for name, run in runs.items()}
    final = {name: run["val_accuracy"][-1] for name, run in plain.items()}
    rules = [  # (a choice by the test set is caught by the reads of test_accuracy, before this)
        ("that recipe had the best validation accuracy at some EARLIER epoch, but we keep the final weights "
         "(one-cycle ends near lr 0): compare run['val_accuracy'][-1]",
         max(plain, key=lambda n: max(plain[n]["val_accuracy"]))),
        ("that recipe has the lowest validation LOSS; the exercise compares validation ACCURACY (the score you "
         "report)", min(plain, key=lambda n: plain[n]["val_loss"][-1])),
        ("that recipe has the lowest TRAINING loss: it says how well a recipe fits the training images, not how "
         "well it does on images it never saw", min(plain, key=lambda n: plain[n]["train_loss"][-1])),
        ("a tie: keep the recipe listed FIRST (the run you already have: a new recipe must do better to replace "
         "it); max(runs, key=...) does that, a loop needs > rather than >=",
         [n for n in plain if final[n] == final[want]][-1]),
    ]
    for hint, answer in rules:
        if answer == got and answer != want:
            return hint
    return "the recipe whose LAST epoch has the highest validation accuracy: runs[name]['val_accuracy'][-1]"


@exercise("04", "pick_by_validation")
def check_pick_by_validation(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``pick_by_validation(runs)`` -> str: ``runs`` maps a recipe's name to its training history as
    ``fit`` returns it (lists per epoch: ``train_loss``, ``val_loss``, ``val_accuracy``, ``seconds``); a run
    already scored on the test set also carries ``test_accuracy``. The answer is the name of the recipe whose
    final validation accuracy is highest (on a tie, the one listed first), and the function must never read a
    ``test_accuracy``: choosing by the test set, even as a tie-breaker, spends the one unbiased score."""
    rng = random_source(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_pick_by_validation(pick_by_validation)")
        for trial in range(trials):
            runs, want = _selection_case(rng, trial)
            case = current["case"] = _describe_runs(runs)
            got = fn(runs)
            peeked = [name for name, run in runs.items() if run.test_read]
            if peeked:
                raise fail(case, repr(want), f"{got!r}, after reading runs[{peeked[0]!r}]['test_accuracy']",
                           "do not read test_accuracy at all, not even as a tie-breaker: a choice that looks at "
                           "the test set makes its score an optimistic guess instead of an unseen exam")
            if not (isinstance(got, str) and got == want):
                raise fail(case, repr(want), repr(got), _selection_hint(runs, got, want))

    return run_check("pick_by_validation", trials, body)


# --- Exercise 4: IoU per class --------------------------------------------------------------------------------
def _iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, ...]:
    classes = torch.arange(num_classes).unsqueeze(1)
    p, t = pred.flatten() == classes, target.flatten() == classes
    inter, union = (p & t).sum(1).double(), (p | t).sum(1).double()
    return inter / union, inter, union, t.sum(1).double()


@exercise("04", "iou_per_class")
def check_iou_per_class(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``iou_per_class(pred, target, num_classes)`` -> a float tensor ``[num_classes]``: for class ``c``,
    the pixels that are ``c`` in both masks over the pixels that are ``c`` in either (intersection over union),
    and NaN for a class found in neither (so that a mean with ``torch.nanmean`` skips it). Masks are integer
    tensors of one shape, ``[H, W]`` or a batch ``[B, H, W]``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_iou_per_class(iou_per_class)")
        for trial in range(trials):
            classes = rng.randint(2, 6)
            shape = (rng.randint(2, 6), rng.randint(2, 6)) if trial % 2 else (rng.randint(1, 3), 3, rng.randint(2, 5))
            used = classes - 1 if trial % 3 != 1 else classes  # often the last class is in neither mask
            target = torch.randint(0, used, shape, generator=gen)
            noise = torch.rand(shape, generator=gen) < 0.35
            pred = torch.where(noise, torch.randint(0, used, shape, generator=gen), target)
            case = current["case"] = (f"iou_per_class(pred={pred.tolist()}, target={target.tolist()}, "
                                      f"num_classes={classes})")
            want, inter, union, in_target = _iou(pred, target, classes)
            got = fn(pred.clone(), target.clone(), classes)
            if problem := tensor_problem(got, want, atol=1e-6):
                hint = "intersection / union: (pred == c) & (target == c) over (pred == c) | (target == c)"
                if not isinstance(got, torch.Tensor):
                    hint = "return a tensor of num_classes floats"
                elif "shape" in problem:
                    hint = "one value per class 0 .. num_classes - 1, absent classes included"
                elif torch.isnan(want).any() and not torch.isnan(got.double()[torch.isnan(want)]).all():
                    hint = ("a class in neither mask has no IoU: 0 / 0 must give NaN, not 0 or 1, so that the mean "
                            "IoU skips it (divide float tensors, no clamp)")
                elif torch.allclose(got.double(), inter / in_target, equal_nan=True):
                    hint = "that is the recall: divide by the UNION of the two masks, not by the target's pixels"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("iou_per_class", trials, body)


# --- Exercise 3 (find the bug): predictions in evaluation mode ------------------------------------------------
def _tiny_bn_classifier(rng: random.Random, gen: torch.Generator, classes: int) -> nn.Module:
    """A tiny random CNN with batch norm, in training mode (as after ``fit``), whose running statistics are far
    from any one batch's: a forward pass in training mode then gives other scores than one in evaluation mode."""
    with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
        torch.manual_seed(rng.randrange(2**31))
        bn, head = nn.BatchNorm2d(4), nn.Linear(4, classes)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), bn, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    with torch.no_grad():
        bn.running_mean = torch.randn(4, generator=gen)  # a registered buffer: assigning replaces it
        bn.running_var = torch.rand(4, generator=gen) * 3 + 0.5
        head.weight.mul_(4)
    return model.train()


def _batched(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)])


def _bn_state(model: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for name, b in model.named_buffers() if "running" in name]


@exercise("04", "predict_classes")
def check_predict_classes(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``predict_classes(model, images, batch_size)`` -> a LongTensor ``[N]``: the class each image gets from
    the model in EVALUATION mode (batch norm normalising with its running statistics), whatever the batch size,
    without changing the model's running statistics. The models are tiny random CNNs with batch norm, handed
    over in training mode, as ``fit`` leaves them."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_predict_classes(predict_classes)")
        for _ in range(trials):
            classes, n = rng.randint(3, 6), rng.randint(6, 24)
            batch_size = rng.randint(math.ceil(n / 3), n - 1)  # two or three batches
            model = _tiny_bn_classifier(rng, gen, classes)
            shift, scale = torch.randn(n, 1, 1, 1, generator=gen) * 2, torch.rand(n, 1, 1, 1, generator=gen) + 0.5
            images = torch.randn(n, 1, 6, 6, generator=gen) * scale + shift  # images of their own brightness
            case = current["case"] = (f"predict_classes(a tiny CNN with batch norm, in training mode, images of "
                                      f"shape {tuple(images.shape)}, batch_size={batch_size})")
            untouched = copy.deepcopy(model)  # a pass in training mode moves the running statistics
            with torch.no_grad():
                reference = copy.deepcopy(untouched).eval()(images).argmax(dim=1)
            stats = _bn_state(model)
            with torch.random.fork_rng(devices=[]):
                got = fn(model, images.clone(), batch_size)
            moved = any(not torch.equal(a, b) for a, b in zip(stats, _bn_state(model)))
            if problem := tensor_problem(got, reference):
                hint = "model.eval() first, then the argmax over the class scores (dim=1) of each batch"
                if isinstance(got, torch.Tensor) and got.shape == reference.shape:
                    with torch.no_grad():  # what the usual slips give, on copies of the untouched model
                        train_batched = _batched(copy.deepcopy(untouched), images, batch_size)
                        train_whole = copy.deepcopy(untouched)(images).argmax(dim=1)
                    if torch.equal(got, train_whole) and not torch.equal(got, train_batched):
                        hint = ("one big batch in training mode still normalises with the batch's statistics: "
                                "call model.eval() so batch norm uses the running statistics from training")
                    elif torch.equal(got, train_batched) or moved:
                        hint = ("the model is still in training mode: its batch norm normalises each batch with that "
                                "batch's own mean and variance, so an image's class depends on the images beside "
                                "it (and on batch_size), and every pass moves its running statistics. Call "
                                "model.eval() before predicting; torch.no_grad() alone does not change that")
                raise fail(case, reference, got, f"{problem}; {hint}")
            if moved:
                raise fail(case, "the model's batch-norm running statistics unchanged",
                           "they changed during predict_classes",
                           "a forward pass in training mode updates the running statistics: predicting must not "
                           "change the model. Call model.eval() before the first forward pass")

    return run_check("predict_classes", trials, body)
