"""English-Spanish Bible verses (World English Bible / Reina-Valera 1909): the parallel corpus of 09-12.

The text comes from the SWORD modules ``engWEB2015eb`` and ``spaRV1909eb``, read with PyPI ``pysword``.

- On Linux with the Debian packages ``sword-text-web`` and ``sword-text-sparv`` installed (CI, ``make
  setup`` as root, Colab after ``apt-get``), they are read from ``/usr/share/sword``.
- Anywhere else (macOS, Windows, a Linux without root) the same two Debian packages are downloaded once
  from Debian's permanent snapshot archive, which serves a file by its SHA-1, checked against a pinned
  SHA-256, unpacked in pure Python (no ``dpkg`` needed) and kept in the cache. A wrong checksum or a
  truncated file is rejected with a clear error and leaves nothing behind; offline, the error names both
  ways to get the text.

Every verse present in both Bibles is parsed once (about 5 s) into a JSON cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import lzma
import os
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_utils.cache import cached
from course_utils.dependencies import require_package
from course_utils.errors import CorpusDownloadError
from course_utils.splits import train_validation_test
from course_utils.validation import (
    require_fractions_leave_room,
    require_int,
    require_positive_number,
    require_seed,
)

SWORD_DIR_ENV = "COURSE_SWORD_DIR"  # where installed SWORD modules live (default /usr/share/sword)
MIRROR_ENV = "COURSE_SWORD_MIRROR"  # a folder or URL holding the .deb files by name (tests, offline mirrors)
SNAPSHOT = "https://snapshot.debian.org/file/"
SWORD_MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}


@dataclass(frozen=True)
class DebSource:
    """One Debian package holding a SWORD module, identified by its content hashes."""

    package: str
    filename: str
    size: int
    sha256: str
    sha1: str


SOURCES = {
    "en": DebSource(
        "sword-text-web", "sword-text-web_426.0-1_all.deb", 3956428,
        "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
        "d9910dc8fe429d82aa7169560dbf436c71491dc5",
    ),
    "es": DebSource(
        "sword-text-sparv", "sword-text-sparv_2.60-1_all.deb", 2722332,
        "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
        "ed6bfcbf1e7e296b7db0109a85332ed6bb6d143d",
    ),
}


def sword_dir() -> Path:
    """Folder of the installed SWORD modules (``COURSE_SWORD_DIR`` overrides ``/usr/share/sword``)."""
    return Path(os.environ.get(SWORD_DIR_ENV, "/usr/share/sword"))


def _has_modules(folder: Path) -> bool:
    confs = {p.name.lower() for p in (folder / "mods.d").glob("*.conf")}
    return all(f"{module.lower()}.conf" in confs for module in SWORD_MODULES.values())


def _source_url(source: DebSource) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return SNAPSHOT + source.sha1
    if "://" not in mirror:
        mirror = Path(mirror).resolve().as_uri()
    return f"{mirror.rstrip('/')}/{source.filename}"


def fetch_deb(source: DebSource, timeout: float = 60) -> bytes:
    """Download one package and check its size and SHA-256; raise :class:`CorpusDownloadError` otherwise."""
    timeout = require_positive_number("timeout", timeout, example="60")
    url = _source_url(source)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # a fixed, checksummed source
            data = response.read(source.size + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise CorpusDownloadError(
            f"could not download {source.filename} from {url} ({getattr(exc, 'reason', exc)}). "
            f"Either install the Debian package (sudo apt-get update && sudo apt-get install -y {source.package}) "
            f"or connect to the internet once so the course can download it; {MIRROR_ENV}=<folder> uses a local copy"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != source.size or digest != source.sha256:
        raise CorpusDownloadError(
            f"{source.filename} from {url} is damaged or not the expected file: {len(data)} bytes with SHA-256 "
            f"{digest[:16]}..., expected {source.size} bytes with {source.sha256[:16]}... Nothing was kept; "
            f"run again to retry, or install the Debian package {source.package}"
        )
    return data


def _deb_members(data: bytes) -> dict[str, bytes]:
    """Members of a Debian package (an ``ar`` archive), by name."""
    if not data.startswith(b"!<arch>\n"):
        raise CorpusDownloadError("not a Debian package (no ar header)")
    members, offset = {}, 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = data[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
    return members


def unpack_sword_files(data: bytes, folder: Path) -> None:
    """Extract ``usr/share/sword/**`` of a downloaded .deb into ``folder`` (mods.d/ and modules/)."""
    payload = _deb_members(data).get("data.tar.xz")
    if payload is None:
        raise CorpusDownloadError("the Debian package has no data.tar.xz member")
    prefix = "./usr/share/sword/"
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(payload)), mode="r:") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = Path(member.name[len(prefix) :])
            if ".." in relative.parts:
                raise CorpusDownloadError(f"unsafe path {member.name} in the Debian package")
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = tar.extractfile(member)  # None only for what is not a regular file (skipped above)
            if handle is None:
                raise CorpusDownloadError(f"cannot read {member.name} in the Debian package")
            target.write_bytes(handle.read())


def downloaded_sword_dir() -> Path:
    """The SWORD modules downloaded from Debian's archive into the cache (once; checksummed)."""

    def build(folder: Path) -> None:
        for source in SOURCES.values():
            unpack_sword_files(fetch_deb(source), folder)

    settings = {lang: source.sha256 for lang, source in SOURCES.items()}
    return cached(
        "sword-modules", settings, build, _has_modules, sub="corpora", about="downloading 6.7 MB from Debian's archive"
    )


def _bibles() -> dict[str, Any]:
    require_package("pysword")
    folder = sword_dir()
    if not _has_modules(folder):
        folder = downloaded_sword_dir()
    from pysword.modules import SwordModules

    modules = SwordModules(str(folder))
    modules.parse_modules()
    return {lang: modules.get_bible_from_module(mod) for lang, mod in SWORD_MODULES.items()}


@contextlib.contextmanager
def pysword_memoised() -> Iterator[dict[tuple[Any, str, int], bytes]]:
    """While active, pysword decompresses each book once, not once per verse (reading every verse: 2 min -> 5 s).

    The patch of ``ZTextModule._decompressed_text`` lasts only as long as the block, and the store keys on the
    module object itself (kept alive by the key), never on ``id()``, which a later object could reuse and be
    served another module's text. Yields the store (tests count it).
    """
    from pysword import bible as pysword_bible

    cls = pysword_bible.ZTextModule
    original = cls._decompressed_text
    store: dict[tuple[Any, str, int], bytes] = {}

    def memoised(self: Any, testament: str, buf_num: int) -> bytes:
        key = (self, testament, buf_num)
        if key not in store:
            store[key] = original(self, testament, buf_num)
        return store[key]

    cls._decompressed_text = memoised
    try:
        yield store
    finally:
        cls._decompressed_text = original


def _parse_verses(folder: Path) -> None:
    with pysword_memoised():
        rows = _read_verse_pairs(_bibles())
    (folder / "verses.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def _read_verse_pairs(bibles: dict[str, Any]) -> list[dict[str, str]]:
    en, es = bibles["en"], bibles["es"]
    rows = []
    for books in en.get_structure().get_books().values():
        for book in books:
            for chapter in range(1, book.num_chapters + 1):
                for verse in range(1, book.chapter_lengths[chapter - 1] + 1):
                    try:
                        pair = [
                            bible.get(books=[book.name], chapters=[chapter], verses=[verse], clean=True)
                            for bible in (en, es)
                        ]
                    except (ValueError, KeyError, IndexError):
                        continue  # a deuterocanonical book the Spanish Bible lacks
                    rows.append({"ref": f"{book.name} {chapter}:{verse}", "en": pair[0], "es": pair[1]})
    return rows


def _verses_ok(folder: Path) -> bool:
    try:
        rows = json.loads((folder / "verses.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(rows, list) and len(rows) > 1000


def verses() -> list[dict[str, str]]:
    """Every verse present in both Bibles as {"ref", "en", "es"}, parsed once (about 5 s) and cached."""
    settings = {module: SOURCES[lang].sha256 for lang, module in SWORD_MODULES.items()}
    entry = cached("bible-en-es", settings, _parse_verses, _verses_ok, sub="corpora", about="about 5 s")
    return json.loads((entry / "verses.json").read_text(encoding="utf-8"))


def bible_pairs(
    seed: int = 0,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    min_ratio: float = 0.5,
    max_ratio: float = 2.0,
    max_chars: int | None = None,
) -> Any:
    """English (World English Bible) / Spanish (Reina-Valera 1909) verse pairs as a ``datasets.DatasetDict``.

    Columns: ref, en, es. Pairs with an empty side or a character-length ratio outside
    [``min_ratio``, ``max_ratio``] are dropped (misaligned verses, the glossary glued to the last WEB verse);
    ``max_chars`` also drops pairs with a side longer than that. Note: pysword's markup cleaning glues a few
    words ("Godcreated"); the course keeps the text as the library gives it. Every argument is checked before
    the verses are read.
    """
    seed = require_seed("seed", seed)
    val_fraction, test_fraction = require_fractions_leave_room(
        {"val_fraction": val_fraction, "test_fraction": test_fraction})
    min_ratio = require_positive_number("min_ratio", min_ratio, example="0.5")
    max_ratio = require_positive_number("max_ratio", max_ratio, example="2.0")
    if min_ratio > max_ratio:
        raise ValueError(f"min_ratio ({min_ratio:g}) is above max_ratio ({max_ratio:g}): no pair could pass; "
                         "swap them")
    if max_chars is not None:
        max_chars = require_int("max_chars", max_chars, minimum=1, example="300 (or None for no limit)")
    import datasets

    rows = []
    for row in verses():
        en, es = row["en"].strip(), row["es"].strip()
        if not en or not es or not min_ratio <= len(en) / len(es) <= max_ratio:
            continue
        if max_chars is not None and max(len(en), len(es)) > max_chars:
            continue
        rows.append({"ref": row["ref"], "en": en, "es": es})
    full = datasets.Dataset.from_list(rows)
    return train_validation_test(full, seed, val_fraction, test_fraction)


def english_text(max_chars: int | None = None) -> str:
    """Raw English text: the World English Bible, one verse per line (~4 MB). ``max_chars`` (>= 1) cuts it."""
    if max_chars is not None:  # checked first: a negative one would slice from the end, dropping characters
        max_chars = require_int("max_chars", max_chars, minimum=1, example="100_000 (or None for all of it)")
    text = "\n".join(row["en"].strip() for row in verses() if row["en"].strip())
    return text if max_chars is None else text[:max_chars]

