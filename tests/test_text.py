"""course_utils.text: the character vocabulary (ids, padding, unknown characters, save/load)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.text import PAD, UNK, CharVocab


@pytest.fixture
def vocab() -> CharVocab:
    return CharVocab.build(["Nowak", "Smith", "Ono"])


def test_special_symbols_come_first(vocab: CharVocab) -> None:
    assert vocab.itos[:2] == [PAD, UNK]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.stoi[PAD] == 0 and vocab.stoi[UNK] == 1


def test_build_is_sorted_and_complete(vocab: CharVocab) -> None:
    chars = vocab.itos[2:]
    assert chars == sorted(set("NowakSmithOno"))
    assert len(vocab) == len(chars) + 2
    assert "k" in vocab and "z" not in vocab


def test_round_trip(vocab: CharVocab) -> None:
    ids = vocab.encode("Nowak")
    assert all(i >= 2 for i in ids) and len(ids) == 5
    assert vocab.decode(ids) == "Nowak"


def test_unknown_characters_and_padding(vocab: CharVocab) -> None:
    ids = vocab.encode("Nowz!")
    assert ids[-2:] == [vocab.unk_id, vocab.unk_id]
    assert vocab.decode([*ids, vocab.pad_id, vocab.pad_id]) == "Now??"
    assert vocab.encode("") == []


def test_lowercase_vocabulary() -> None:
    vocab = CharVocab.build(["Ab", "ba"], lowercase=True)
    assert vocab.itos[2:] == ["a", "b"]
    assert vocab.encode("AB") == vocab.encode("ab")
    assert "A" in vocab


def test_min_count_drops_rare_characters() -> None:
    vocab = CharVocab.build(["aab", "ac"], min_count=2)
    assert vocab.itos[2:] == ["a"]
    assert vocab.encode("b") == [vocab.unk_id]


def test_save_and_load(vocab: CharVocab, tmp_path: Path) -> None:
    path = vocab.save(tmp_path / "sub" / "vocab.json")
    loaded = CharVocab.load(path)
    assert loaded == vocab
    assert loaded.encode("Smith") == vocab.encode("Smith")
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # nothing temporary left behind


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="CharVocab.save"):
        CharVocab.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": []}))
    with pytest.raises(ValueError, match="not a CharVocab"):
        CharVocab.load(bad)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: CharVocab.build([]), ValueError, "no text"),
        (lambda: CharVocab.build(["ok", 3]), TypeError, "item 1"),
        (lambda: CharVocab.build(["a"], min_count=0), ValueError, "min_count"),
        (lambda: CharVocab(["ab"]), ValueError, "single character"),
        (lambda: CharVocab(["a", "a"]), ValueError, "duplicate"),
        (lambda: CharVocab(["a"]).encode(None), TypeError, "string"),
        (lambda: CharVocab(["a"]).decode([7]), ValueError, "outside"),
    ],
)
def test_bad_inputs_fail_clearly(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()
