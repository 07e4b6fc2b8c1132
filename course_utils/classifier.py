"""A fine-tuned sentiment classifier (negative/positive tweets), built on demand and cached.

No fine-tuned sentiment model ships in a package, so the course makes one: notebook 07 teaches the recipe
(the encoder all-MiniLM-L6-v2 + a new classification head, AdamW, a linear schedule with warm-up, dynamic
padding) and :func:`sentiment_classifier_path` runs the same recipe on a small budget (a minute or two on a
laptop CPU), so that notebook 06 (``pipeline("sentiment-analysis", model=...)``) works whether or not 07 ran.

The result is a plain Hugging Face folder (model + tokenizer, ``id2label`` = negative/positive) written
atomically into the cache under a name that includes the budget and the seed, so a smoke-size build and a
full-size one never mix. A missing, incomplete or broken entry is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from course_utils.cache import atomic_dir, cache_dir, file_lock, is_complete, remove_entry
from course_utils.environment import check_seed

LABELS = ["negative", "positive"]
CACHE_PREFIX = "sentiment-classifier"
INFO_FILE = "course_training.json"
NEEDED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", INFO_FILE)


def entry_name(n_examples: int, steps: int, seed: int) -> str:
    """Cache folder name of one build: the budget and the seed are part of it."""
    return f"{CACHE_PREFIX}-n{n_examples}-steps{steps}-seed{seed}"


def sentiment_classifier_path(
    rebuild: bool = False,
    n_examples: int = 2000,
    steps: int = 100,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int = 64,
    learning_rate: float = 1e-4,
    device: str | None = None,
) -> Path:
    """Folder of a sentiment classifier fine-tuned on the binary tweets; built once (about 1-2 min on CPU).

    ``n_examples`` tweets are drawn with ``seed`` (80% train, 10% validation, 10% test, see
    :func:`course_utils.data.sentiment_tweets`) and ``steps`` optimizer steps of ``batch_size`` are taken.
    Smaller values give a quick, weaker model (smoke runs, tests). ``rebuild=True`` forces a new build.
    The folder holds ``course_training.json`` with the budget, the test accuracy and the build time.
    """
    if n_examples < 20:
        raise ValueError(f"n_examples must be at least 20 (train/validation/test need a few each), got {n_examples}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if batch_size < 1 or max_length < 8:
        raise ValueError(f"batch_size must be >= 1 and max_length >= 8, got {batch_size} and {max_length}")
    seed = check_seed(seed)
    target = cache_dir() / entry_name(n_examples, steps, seed)
    with file_lock(target.with_name(f".{target.name}.lock")):
        if rebuild or (target.exists() and not classifier_ok(target)):
            remove_entry(target)
        if not target.exists():
            settings = {
                "n_examples": n_examples,
                "steps": steps,
                "seed": seed,
                "batch_size": batch_size,
                "max_length": max_length,
                "learning_rate": learning_rate,
            }
            build_classifier(target, settings, device)
    return target


def classifier_ok(folder: Path) -> bool:
    """True if ``folder`` is a complete cache entry whose config, tokenizer and weights all load."""
    folder = Path(folder)
    if not is_complete(folder) or not all((folder / name).is_file() for name in NEEDED_FILES):
        return False
    try:
        from safetensors.torch import load_file
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(folder)
        if [config.id2label[i] for i in range(len(LABELS))] != LABELS:
            return False
        json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        weights = load_file(folder / "model.safetensors")  # reads every tensor: a truncated file fails here
        return "classifier.weight" in weights
    except Exception:
        return False


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading report and progress bars while building (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def build_classifier(target: Path, settings: dict[str, Any], device: str | None = None) -> Path:
    """Fine-tune the encoder with ``settings`` and save model + tokenizer at ``target`` (atomically)."""
    import torch

    from course_utils.assets import encoder_path
    from course_utils.environment import get_device

    start = time.perf_counter()
    torch_device = get_device(device)
    # fork_rng: the build seeds its own RNG and leaves the caller's random state as it was, so a notebook
    # gives the same numbers whether the classifier came from the cache or was built just now.
    with torch.random.fork_rng(devices=[]), _quiet_transformers():
        torch.manual_seed(settings["seed"])
        model, tokenizer, test_accuracy = _train(encoder_path(), settings, torch_device)
        info = {
            **settings,
            "labels": LABELS,
            "test_accuracy": round(test_accuracy, 4),
            "device": torch_device.type,
            "build_seconds": round(time.perf_counter() - start, 1),
        }
        with atomic_dir(target) as tmp:
            _save(model, tokenizer, info, tmp)
    return target


def _batches(tokenizer: Any, texts: list[str], labels: list[int], settings: dict[str, Any], order: list[int]):
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer)
    size = settings["batch_size"]
    for first in range(0, len(order), size):
        rows = [order[i] for i in range(first, min(first + size, len(order)))]
        features = tokenizer([texts[i] for i in rows], truncation=True, max_length=settings["max_length"])
        examples = [{k: features[k][j] for k in features} | {"labels": labels[i]} for j, i in enumerate(rows)]
        yield collator(examples)


def _train(encoder: Path, settings: dict[str, Any], device: Any) -> tuple[Any, Any, float]:
    """The notebook-07 recipe on a small budget; returns (model, tokenizer, test accuracy)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from course_utils.data import sentiment_tweets

    splits = sentiment_tweets(view="binary", seed=settings["seed"], limit=settings["n_examples"])
    train, test = splits["train"], splits["test"]
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)}
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"], weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, max(1, settings["steps"] // 10), settings["steps"])
    generator = torch.Generator().manual_seed(settings["seed"])
    texts, labels = train["text"], train["label"]
    model.train()
    step = 0
    while step < settings["steps"]:  # epochs over a freshly shuffled order until the step budget is spent
        order = torch.randperm(len(texts), generator=generator).tolist()
        for batch in _batches(tokenizer, texts, labels, settings, order):
            loss = model(**batch.to(device)).loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} while building the classifier")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step == settings["steps"]:
                break
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in _batches(tokenizer, test["text"], test["label"], settings, list(range(len(test)))):
            batch = batch.to(device)
            correct += (model(**batch).logits.argmax(-1) == batch["labels"]).sum().item()
    return model.cpu(), tokenizer, correct / len(test)


def _save(model: Any, tokenizer: Any, info: dict[str, Any], folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def training_info(folder: Path) -> dict[str, Any]:
    """The budget, test accuracy and build time stored with a classifier built here."""
    return json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8"))
