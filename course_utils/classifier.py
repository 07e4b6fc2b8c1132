"""A fine-tuned sentiment classifier (negative/positive tweets), built on demand and cached.

No fine-tuned sentiment model ships in a package, so the course makes one: notebook 07 teaches the recipe
(the encoder all-MiniLM-L6-v2 + a new classification head, length-grouped batches padded per batch, AdamW,
a linear schedule with warm-up, gradient clipping, the best epoch on validation kept) and
:func:`sentiment_classifier_path` runs that same recipe, :func:`course_utils.finetune.fine_tune`, on a small
budget (well under a minute on a laptop CPU), so that notebooks 06 and 12 work whether or not 07 ran.

The result is a plain Hugging Face folder (model + tokenizer, ``id2label`` = negative/positive) built through
:func:`course_utils.cache.cached`: its name holds a hash of every setting that changes the weights and of the
recipe version, so a smoke-size build and a full-size one never mix, and a broken entry is rebuilt.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from course_utils.cache import cached
from course_utils.validation import (
    require_fraction,
    require_int,
    require_number,
    require_positive_int,
    require_positive_number,
    require_seed,
)

LABELS = ["negative", "positive"]
CACHE_NAME = "sentiment-classifier"
RECIPE = 3  # 2: course_utils.finetune (notebook 07's loop: grouped batches, clipping, best epoch on validation);
# 3: its AdamW is the fused kernel (other rounding, so other weights)
INFO_FILE = "course_training.json"
NEEDED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", INFO_FILE)


def classifier_settings(
    n_examples: int = 2000,
    steps: int = 70,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int = 64,
    learning_rate: float = 1.5e-4,
    warmup_fraction: float = 0.1,
    max_grad_norm: float = 1.0,
    weight_decay: float = 0.01,
) -> dict[str, Any]:
    """The validated settings of one build: every value that changes the weights (the cache key holds them).

    The encoder's name and size are added, so a new version of the encoder package gives a new entry.
    """
    n_examples = require_int("n_examples", n_examples, minimum=20,
                             example="2000 (at least 20: train/validation/test need a few each)")
    steps = require_positive_int("steps", steps, example="70")
    batch_size = require_positive_int("batch_size", batch_size, example="16")
    max_length = require_int("max_length", max_length, minimum=8, example="64")
    learning_rate = require_positive_number("learning_rate", learning_rate, example="1.5e-4")
    warmup_fraction = require_fraction("warmup_fraction", warmup_fraction, allow_zero=True)
    max_grad_norm = require_positive_number("max_grad_norm", max_grad_norm, example="1.0")
    weight_decay = require_number("weight_decay", weight_decay, minimum=0.0, example="0.01")
    seed = require_seed("seed", seed)
    from course_utils.assets import encoder_path

    encoder = encoder_path()
    return {
        "n_examples": n_examples,
        "steps": steps,
        "seed": seed,
        "batch_size": batch_size,
        "max_length": max_length,
        "learning_rate": float(learning_rate),
        "warmup_fraction": float(warmup_fraction),
        "max_grad_norm": float(max_grad_norm),
        "weight_decay": float(weight_decay),
        "encoder": f"{encoder.parent.name}/{encoder.name}",
        "encoder_bytes": (encoder / "model.safetensors").stat().st_size,
    }


def sentiment_classifier_path(
    rebuild: bool = False,
    n_examples: int = 2000,
    steps: int = 70,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int = 64,
    learning_rate: float = 1.5e-4,
    device: str | None = None,
    *,
    warmup_fraction: float = 0.1,
    max_grad_norm: float = 1.0,
    weight_decay: float = 0.01,
) -> Path:
    """Folder of a sentiment classifier fine-tuned on the binary tweets; built once (well under a minute on CPU).

    ``n_examples`` tweets are drawn with ``seed`` (80% train, 10% validation, 10% test, see
    :func:`course_utils.data.sentiment_tweets`) and ``steps`` optimizer steps of ``batch_size`` are taken
    with notebook 07's recipe (:func:`course_utils.finetune.fine_tune`). Smaller values give a quick, weaker
    model (smoke runs, tests); the defaults (70 steps of 16 tweets, under one epoch) reach about 0.90 test
    accuracy, where always answering "negative" scores about 0.8. ``rebuild=True`` forces a new build.
    ``device`` only says where to train: it is not part of the cache key (a GPU build differs from a CPU build
    by float rounding only).
    The folder holds ``course_training.json`` with the settings, the test accuracy and the build time.
    """
    settings = classifier_settings(
        n_examples, steps, seed, batch_size, max_length, learning_rate, warmup_fraction, max_grad_norm, weight_decay
    )
    return cached(
        CACHE_NAME,
        settings,
        lambda folder: build_classifier(folder, settings, device),
        classifier_ok,
        recipe=RECIPE,
        rebuild=rebuild,
        about=f"{steps} fine-tuning steps on {n_examples} tweets, under a minute on a laptop CPU",
    )


def classifier_ok(folder: Path) -> bool:
    """True if ``folder`` holds every file, readable JSON, our two labels and complete weights.

    Returns False only for what a damaged entry looks like (a missing file, bad JSON, a truncated weights
    file); any other error (a missing package, out of memory) propagates instead of turning into a rebuild.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    if not all((folder / name).is_file() for name in NEEDED_FILES):
        return False
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        for name in ("tokenizer.json", "tokenizer_config.json", INFO_FILE):
            json.loads((folder / name).read_text(encoding="utf-8"))
        with safe_open(folder / "model.safetensors", framework="pt") as weights:  # a truncated file fails here
            names = set(weights.keys())
    except (UnicodeDecodeError, json.JSONDecodeError, SafetensorError):
        return False
    id2label = config.get("id2label") if isinstance(config, dict) else None
    return id2label == {str(i): name for i, name in enumerate(LABELS)} and "classifier.weight" in names


def build_classifier(folder: Path, settings: dict[str, Any], device: str | None = None) -> Path:
    """Fine-tune the encoder with ``settings`` (see :func:`classifier_settings`) and save it into ``folder``."""
    import torch

    from course_utils.environment import get_device
    from course_utils.hf import quiet_transformers

    start = time.perf_counter()
    torch_device = get_device(device)
    # fork_rng: the build seeds its own RNG and leaves the caller's random state as it was, so a notebook
    # gives the same numbers whether the classifier came from the cache or was built just now.
    cuda = list(range(torch.cuda.device_count())) if torch_device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), quiet_transformers(datasets=True):
        model, tokenizer, results = _train(settings, torch_device)
        info = {
            **settings,
            "labels": LABELS,
            **{key: round(value, 4) for key, value in results.items()},
            "device": torch_device.type,
            "build_seconds": round(time.perf_counter() - start, 1),
        }
        _save(model, tokenizer, info, folder)
    return folder


def _train(settings: dict[str, Any], device: Any) -> tuple[Any, Any, dict[str, float]]:
    """Notebook 07's recipe on ``settings``' budget; returns (model on the CPU, tokenizer, scores)."""
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from course_utils import finetune
    from course_utils.assets import encoder_path
    from course_utils.data import sentiment_tweets

    seed = settings["seed"]
    splits = sentiment_tweets(view="binary", seed=seed, limit=settings["n_examples"])
    tokenizer = AutoTokenizer.from_pretrained(encoder_path())
    encoded = finetune.tokenize_splits(splits, tokenizer, settings["max_length"])
    torch.manual_seed(seed)  # the new head's initial weights, then dropout
    model = finetune.sequence_classifier(encoder_path(), LABELS).to(device)
    generator = torch.Generator().manual_seed(seed)
    loaders = finetune.make_loaders(encoded, DataCollatorWithPadding(tokenizer), settings["batch_size"], generator)
    result = finetune.fine_tune(
        model,
        loaders["train"],
        loaders["validation"],
        device,
        epochs=math.ceil(settings["steps"] / len(loaders["train"])),
        max_steps=settings["steps"],
        learning_rate=settings["learning_rate"],
        weight_decay=settings["weight_decay"],
        warmup_fraction=settings["warmup_fraction"],
        max_grad_norm=settings["max_grad_norm"],
    )
    test = finetune.evaluate(model, loaders["test"], device)
    results = {
        "best_epoch": result.best_epoch,
        "validation_accuracy": result.best_validation["accuracy"],
        "test_accuracy": test["accuracy"],
        "test_f1_macro": test["f1_macro"],
    }
    return model.cpu(), tokenizer, results


def _save(model: Any, tokenizer: Any, info: dict[str, Any], folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def training_info(folder: Path) -> dict[str, Any]:
    """The settings, test accuracy and build time stored with a classifier built here."""
    return json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8"))
