"""course_utils.bible: the verse corpus from Debian's SWORD packages, or downloaded once with a checksum."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from course_utils import bible
from course_utils.errors import CorpusDownloadError

INSTALLED = bible._has_modules(Path("/usr/share/sword"))
needs_debian = pytest.mark.skipif(not INSTALLED, reason="the Debian SWORD packages are not installed here")


def _fake_deb(files: dict[str, bytes]) -> bytes:
    """A minimal Debian package (ar archive with data.tar.xz) holding ``files`` under usr/share/sword/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"./usr/share/sword/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    payload = lzma.compress(buffer.getvalue())
    out = b"!<arch>\n"
    for name, content in ((b"debian-binary", b"2.0\n"), (b"data.tar.xz", payload)):
        header = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
        out += header + str(len(content)).encode().ljust(10) + b"`\n" + content + (b"\n" if len(content) % 2 else b"")
    return out


def _debs_from_installed() -> dict[str, bytes]:
    """Rebuild each language's package from the installed files (what a download would bring)."""
    root = Path("/usr/share/sword")
    debs = {}
    for lang, module in bible.SWORD_MODULES.items():
        files = {f"mods.d/{module}.conf": (root / "mods.d" / f"{module}.conf").read_bytes()}
        for path in (root / "modules" / "texts" / "ztext" / module).iterdir():
            files[str(path.relative_to(root))] = path.read_bytes()
        debs[lang] = _fake_deb(files)
    return debs


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> dict[str, Path]:
    """No installed modules, and a local mirror serving packages whose pinned checksums match."""
    monkeypatch.setenv(bible.SWORD_DIR_ENV, str(tmp_path / "no-sword"))
    monkeypatch.setenv(bible.MIRROR_ENV, str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    sources, paths = {}, {}
    for lang, data in _debs_from_installed().items():
        source = replace(bible.SOURCES[lang], filename=f"{lang}.deb", size=len(data))
        source = replace(source, sha256=hashlib.sha256(data).hexdigest())
        paths[lang] = tmp_path / "mirror" / source.filename
        paths[lang].write_bytes(data)
        sources[lang] = source
    monkeypatch.setattr(bible, "SOURCES", sources)
    return paths


@needs_debian
def test_download_path_gives_the_same_verses(mirror: dict[str, Path], cache: Path) -> None:
    rows = bible.verses()
    assert len(rows) > 30_000 and rows[0]["ref"] == "Genesis 1:1" and "beginning" in rows[0]["en"]
    [entry] = (cache / "corpora").glob("sword-modules-*")
    assert (entry / "mods.d").is_dir()
    assert len(bible.bible_pairs()["train"]) > 25_000


@needs_debian
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_download_is_rejected_and_nothing_kept(mirror: dict[str, Path], cache: Path, damage: str) -> None:
    data = mirror["es"].read_bytes()
    mirror["es"].write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-10] + b"x" * 10)
    with pytest.raises(CorpusDownloadError, match="damaged or not the expected file.*Nothing was kept"):
        bible.verses()
    leftovers = [p.name for p in (cache / "corpora").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_offline_error_names_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv(bible.SWORD_DIR_ENV, str(tmp_path / "no-sword"))
    monkeypatch.setenv(bible.MIRROR_ENV, str(tmp_path / "empty-mirror"))
    with pytest.raises(CorpusDownloadError) as info:
        bible.verses()
    message = str(info.value)
    assert "apt-get install -y sword-text-" in message and "connect to the internet" in message
    assert [p for p in (cache / "corpora").iterdir() if not p.name.endswith(".lock")] == []


def test_unpack_rejects_what_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(CorpusDownloadError, match="not a Debian package"):
        bible.unpack_sword_files(b"<html>captive portal</html>", tmp_path)
    with pytest.raises(CorpusDownloadError, match="no data.tar.xz"):
        bible.unpack_sword_files(b"!<arch>\n", tmp_path)


def test_unpack_extracts_only_sword_files(tmp_path: Path) -> None:
    deb = _fake_deb({"mods.d/x.conf": b"[X]\n", "modules/texts/ztext/x/ot.bzz": b"123"})
    bible.unpack_sword_files(deb, tmp_path)
    assert (tmp_path / "mods.d" / "x.conf").read_bytes() == b"[X]\n"
    assert (tmp_path / "modules" / "texts" / "ztext" / "x" / "ot.bzz").read_bytes() == b"123"


def test_pinned_sources_match_the_debian_packages() -> None:
    for source in bible.SOURCES.values():
        assert len(source.sha256) == 64 and len(source.sha1) == 40 and source.size > 1_000_000
        assert source.filename.startswith(source.package + "_")


@needs_debian
def test_broken_verse_cache_is_rebuilt(cache: Path) -> None:
    rows = bible.verses()
    [entry] = (cache / "corpora").glob("bible-en-es-*")
    (entry / "verses.json").write_text('[{"ref": "Genesis 1:1", "en": "trunc')
    assert bible.verses() == rows
    assert json.loads((entry / "verses.json").read_text()) == rows


def test_the_pysword_memo_is_scoped_and_keyed_on_the_module_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyed on id(), a module garbage-collected and a new one at the same address was served the old text; and
    the patch stayed on pysword for good. Now it keys on the object and lasts only for the parse."""
    from pysword import bible as pysword_bible

    calls: list[tuple[object, str, int]] = []

    def decompress(self: object, testament: str, buf_num: int) -> bytes:
        calls.append((self, testament, buf_num))
        return f"{id(self)}-{testament}-{buf_num}".encode()

    monkeypatch.setattr(pysword_bible.ZTextModule, "_decompressed_text", decompress)
    first, second = object(), object()
    with bible.pysword_memoised() as store:
        read = pysword_bible.ZTextModule._decompressed_text
        assert read(first, "ot", 1) == read(first, "ot", 1)  # the second read is served from the memo
        assert read(second, "ot", 1) != read(first, "ot", 1)
        assert len(calls) == 2 and (first, "ot", 1) in store
    assert pysword_bible.ZTextModule._decompressed_text is decompress  # restored
