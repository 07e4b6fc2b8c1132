"""Character vocabulary taught in notebook 05: characters <-> integer ids, with padding and unknown symbols.

Notebook 05 builds this vocabulary by hand (count characters, give each an id); ``CharVocab`` is the
same thing packaged for reuse, with save/load so a trained model and its vocabulary travel together.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from course_utils.cache import atomic_write_bytes
from course_utils.validation import require_bool, require_positive_int, require_str

PAD = "<pad>"
UNK = "<unk>"


class CharVocab:
    """A character vocabulary: id 0 is padding (``<pad>``), id 1 is unknown (``<unk>``), then the characters.

    Build it from training text with :meth:`build`; ``encode`` maps a string to ids (characters not in the
    vocabulary become the unknown id), ``decode`` maps ids back (padding dropped, unknown shown as ``unk_char``).
    """

    pad_id = 0
    unk_id = 1

    def __init__(self, chars: Sequence[str], lowercase: bool = False, unk_char: str = "?") -> None:
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"every vocabulary entry must be a single character, got {bad[:3]!r}")
        if len(set(chars)) != len(chars):
            dupes = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"duplicate characters in the vocabulary: {dupes!r}")
        require_str("unk_char", unk_char)
        lowercase = require_bool("lowercase", lowercase)
        self.lowercase = lowercase
        self.unk_char = unk_char
        self.itos: list[str] = [PAD, UNK, *chars]
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, lowercase: bool = False, unk_char: str = "?") -> CharVocab:
        """Vocabulary of the characters seen at least ``min_count`` times in ``texts`` (sorted, so ids are stable)."""
        min_count = require_positive_int("min_count", min_count, example="1 (every character seen)")
        counts: Counter[str] = Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings; item {i} is {type(text).__name__} {text!r}")
            counts.update(text.lower() if lowercase else text)
        if not counts:
            raise ValueError("cannot build a vocabulary from no text: pass a non-empty list of strings")
        return cls(sorted(c for c, n in counts.items() if n >= min_count), lowercase=lowercase, unk_char=unk_char)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and (char.lower() if self.lowercase else char) in self.stoi

    def __repr__(self) -> str:
        shown = "".join(self.itos[2:30])
        more = "..." if len(self.itos) > 30 else ""
        return f"CharVocab(size={len(self)}, chars={shown!r}{more}, lowercase={self.lowercase})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and (self.itos, self.lowercase, self.unk_char) == (
            other.itos,
            other.lowercase,
            other.unk_char,
        )

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; unseen characters map to ``unk_id``. ``""`` gives ``[]``."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a string, got {type(text).__name__} {text!r}")
        if self.lowercase:
            text = text.lower()
        return [self.stoi.get(c, self.unk_id) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """The string for ``ids``: padding is dropped, unknown ids show as ``unk_char``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside the vocabulary (size {len(self)})")
            if i == self.pad_id:
                continue
            out.append(self.unk_char if i == self.unk_id else self.itos[i])
        return "".join(out)

    def to_dict(self) -> dict:
        """A JSON-serialisable description (what :meth:`save` writes)."""
        return {"chars": self.itos[2:], "lowercase": self.lowercase, "unk_char": self.unk_char}

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically: a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no vocabulary file at {path}; create one with CharVocab.save(path)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["chars"], lowercase=data["lowercase"], unk_char=data["unk_char"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a CharVocab file ({exc}); it holds chars, lowercase, unk_char") from exc
