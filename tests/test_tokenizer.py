"""course_utils.tokenizer: the BPE recipe of notebook 09 and the cached translation tokenizer of notebook 10."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils import tokenizer as tok_mod
from course_utils.tokenizer import (
    SPECIAL_TOKENS,
    train_bpe_tokenizer,
    translation_tokenizer_path,
    wrap_for_transformers,
)

TEXTS = [
    "In the beginning, God created the heavens and the earth.",
    "En el principio crió Dios los cielos y la tierra.",
    "¿Qué es esto? The earth was formless and empty.",
    "Y la tierra estaba desadornada y vacía.",
] * 20


@pytest.fixture
def small_corpus(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Replace bible_pairs with a tiny in-memory DatasetDict, so cache tests need no Debian corpus and run fast."""
    import datasets

    rows = [{"ref": f"v{i}", "en": TEXTS[2 * (i % 2)], "es": TEXTS[2 * (i % 2) + 1]} for i in range(40)]
    calls: list[dict[str, str]] = []

    def fake_pairs(seed: int = 0) -> datasets.DatasetDict:
        calls.append({"seed": str(seed)})
        return datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)})

    monkeypatch.setattr("course_utils.data.bible_pairs", fake_pairs)
    return calls


def test_special_tokens_come_first_and_bos_eos_are_added() -> None:
    tok = train_bpe_tokenizer(TEXTS, vocab_size=200)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    encoding = tok.encode("the earth")
    assert encoding.ids[0] == 1 and encoding.ids[-1] == 2
    assert tok.get_vocab_size() <= 200


def test_round_trip_keeps_accents_and_lowercases() -> None:
    tok = train_bpe_tokenizer(TEXTS, vocab_size=200)
    text = "¿Qué es esto? Y la tierra estaba vacía."
    assert tok.decode(tok.encode(text).ids) == text.lower()
    stripped = train_bpe_tokenizer(TEXTS, vocab_size=200, strip_accents=True)
    assert stripped.decode(stripped.encode("vacía").ids) == "vacia"


def test_unseen_characters_become_unk_not_nothing() -> None:
    tok = train_bpe_tokenizer(TEXTS, vocab_size=200)
    encoding = tok.encode("the 你好 earth 🙂")
    assert encoding.tokens.count("<unk>") == 3
    assert "<unk>" in tok.decode(encoding.ids, skip_special_tokens=False)


def test_training_is_deterministic() -> None:
    assert train_bpe_tokenizer(TEXTS, vocab_size=150).to_str() == train_bpe_tokenizer(TEXTS, vocab_size=150).to_str()


@pytest.mark.parametrize(
    ("texts", "kwargs", "error"),
    [
        ("a single string", {}, TypeError),
        ([], {}, ValueError),
        (["ok", 3], {}, TypeError),
        (TEXTS, {"vocab_size": 10}, ValueError),
        (TEXTS, {"vocab_size": 1.5}, TypeError),
        (TEXTS, {"min_frequency": 0}, ValueError),
    ],
)
def test_bad_inputs_fail_with_a_message(texts: object, kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        train_bpe_tokenizer(texts, **kwargs)  # type: ignore[arg-type]


def test_wrapped_tokenizer_pads_and_saves(tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = wrap_for_transformers(train_bpe_tokenizer(TEXTS, vocab_size=200))
    batch = fast(["the earth", "en el principio crió dios"], padding=True)
    assert fast.pad_token_id == 0 and batch["input_ids"][0][-1] == 0
    fast.save_pretrained(tmp_path)
    again = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    assert again("la tierra")["input_ids"] == fast("la tierra")["input_ids"]


def test_cache_builds_once_and_is_reused(cache: Path, small_corpus: list) -> None:
    from transformers import PreTrainedTokenizerFast

    path = translation_tokenizer_path(vocab_size=150)
    assert path.parent.parent == cache and (path / "tokenizer.json").is_file()
    stamp = (path / "tokenizer.json").stat().st_mtime_ns
    assert translation_tokenizer_path(vocab_size=150) == path
    assert (path / "tokenizer.json").stat().st_mtime_ns == stamp and len(small_corpus) == 1
    fast = PreTrainedTokenizerFast.from_pretrained(path)
    assert fast.decode(fast("la tierra")["input_ids"], skip_special_tokens=True) == "la tierra"


def test_corrupt_cache_is_rebuilt(cache: Path, small_corpus: list) -> None:
    path = translation_tokenizer_path(vocab_size=150)
    (path / "tokenizer.json").write_text("{not json")
    assert translation_tokenizer_path(vocab_size=150) == path
    assert len(small_corpus) == 2
    assert tok_mod._entry_ok(path)


def test_rebuild_forces_a_new_build(cache: Path, small_corpus: list) -> None:
    translation_tokenizer_path(vocab_size=150)
    translation_tokenizer_path(vocab_size=150, rebuild=True)
    assert len(small_corpus) == 2


def test_interrupted_build_leaves_no_entry(cache: Path, small_corpus: list, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tok_mod, "wrap_for_transformers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        translation_tokenizer_path(vocab_size=150)
    folder = cache / "tokenizers"
    assert [p for p in os.listdir(folder) if not p.endswith(".lock")] == []


def test_bad_arguments(cache: Path) -> None:
    with pytest.raises(ValueError, match="max_pairs"):
        translation_tokenizer_path(max_pairs=0)
    with pytest.raises(ValueError, match="vocab_size"):
        translation_tokenizer_path(vocab_size=5)
