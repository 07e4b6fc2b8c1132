"""Every cached artifact keys on every argument that changes it (a changed setting never returns a stale entry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from course_utils import assets, cache, tokenizer


def _capture(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[str]:
    keys: list[str] = []

    def fake_cached(name: str, settings: dict, build: Any, validate: Any = None, *, recipe: int = 1, **kw: Any) -> Path:
        keys.append(f"{name}-{cache.cache_key(recipe, settings)}")
        return Path("/nonexistent")

    monkeypatch.setattr(module, "cached", fake_cached)
    return keys


def test_tokenizer_key_covers_every_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _capture(monkeypatch, tokenizer)
    variants = [
        {},
        {"vocab_size": 4000},
        {"seed": 1},
        {"max_pairs": 100},
        {"min_frequency": 3},
        {"lowercase": False},
    ]
    for kwargs in variants:
        tokenizer.translation_tokenizer_path(**kwargs)
    assert len(set(keys)) == len(variants), keys
    tokenizer.translation_tokenizer_path(rebuild=True)  # rebuild is not a setting
    assert keys[-1] == keys[0]


def test_causal_lm_key_follows_the_packaged_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = _capture(monkeypatch, assets)
    for size in (10, 11):
        gguf = tmp_path / f"v{size}" / assets.CAUSAL_LM_GGUF
        gguf.parent.mkdir()
        gguf.write_bytes(b"x" * size)
        monkeypatch.setattr(assets, "causal_lm_gguf", lambda gguf=gguf: gguf)
        assets.causal_lm_path()
    monkeypatch.setattr(assets, "CAUSAL_LM_RECIPE", assets.CAUSAL_LM_RECIPE + 1)
    assets.causal_lm_path()
    assert len(set(keys)) == 3


@pytest.mark.parametrize(
    ("validate", "files"),
    [
        (assets._causal_lm_ok, ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]),
        (tokenizer._entry_ok, ["tokenizer.json", "tokenizer_config.json"]),
    ],
    ids=["causal_lm", "tokenizer"],
)
def test_validators_reject_corruption_and_let_real_errors_through(
    validate: Any, files: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in files:
        (tmp_path / name).write_text('{"truncated": ')  # what a crash mid-write of an old writer left
    assert validate(tmp_path) is False

    def broken(*args: object, **kwargs: object) -> None:
        raise ImportError("a real problem, not a corrupt file")

    monkeypatch.setattr("json.loads", broken)
    with pytest.raises(ImportError, match="real problem"):
        validate(tmp_path)


def test_verse_and_image_validators(tmp_path: Path) -> None:
    from course_utils import bible

    (tmp_path / "verses.json").write_text('[{"ref": "Genesis 1:1", "en": "trunc')
    assert bible._verses_ok(tmp_path) is False
    assert bible._has_modules(tmp_path) is False
