"""course_utils.bible: the verse corpus from Debian's SWORD packages, or downloaded once with a checksum."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import tarfile
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


APT_ARCHIVES = Path("/var/cache/apt/archives")


@pytest.fixture(scope="session")
def real_debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real pinned packages: apt's cache where `make setup` left them, else `apt-get download` (Debian's
    package archive, the one network this project reaches); skipped only where there is no apt at all."""
    import shutil
    import subprocess

    folder = tmp_path_factory.mktemp("real-debs")
    found = {}
    for lang, source in bible.SOURCES.items():
        cached = APT_ARCHIVES / source.filename
        if cached.is_file():
            found[lang] = cached
            continue
        if shutil.which("apt-get") is None:
            pytest.skip("no apt-get: the real Debian packages cannot be had on this machine")
        version = source.filename.split("_")[1]
        proc = subprocess.run(["apt-get", "download", f"{source.package}={version}"], cwd=folder,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"apt-get download {source.package}={version} failed: {proc.stderr[-500:]}"
        found[lang] = folder / source.filename
    return found


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path, real_debs: dict[str, Path]) -> dict[str, Path]:
    """No installed modules, and a local mirror serving copies of the real pinned packages (SOURCES untouched)."""
    monkeypatch.setenv(bible.SWORD_DIR_ENV, str(tmp_path / "no-sword"))
    monkeypatch.setenv(bible.MIRROR_ENV, str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    paths = {}
    for lang, real in real_debs.items():
        paths[lang] = tmp_path / "mirror" / bible.SOURCES[lang].filename
        paths[lang].write_bytes(real.read_bytes())
    return paths


def test_download_path_gives_the_same_verses(mirror: dict[str, Path], cache: Path) -> None:
    rows = bible.verses()
    assert len(rows) > 30_000 and rows[0]["ref"] == "Genesis 1:1" and "beginning" in rows[0]["en"]
    [entry] = (cache / "corpora").glob("sword-modules-*")
    assert (entry / "mods.d").is_dir()
    assert len(bible.bible_pairs()["train"]) > 25_000


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


def test_pinned_sources_are_the_real_debian_packages(real_debs: dict[str, Path], tmp_path: Path) -> None:
    """Each pin (size, SHA-256, and the SHA-1 the snapshot archive serves it by) is that of the real package, and
    the real package's layout (ar, data.tar.xz, usr/share/sword/...) unpacks into the modules the course reads."""
    for lang, source in bible.SOURCES.items():
        data = real_debs[lang].read_bytes()
        assert source.filename.startswith(source.package + "_")
        assert (len(data), hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()) == (
            source.size, source.sha256, source.sha1)
        bible.unpack_sword_files(data, tmp_path)
    assert bible._has_modules(tmp_path)


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
