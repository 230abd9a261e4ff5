"""Noto Serif CJK with TrueType outlines, converted once into a cache outside the repository.

reportlab embeds only TrueType (``glyf``) outlines, and Debian's Noto Serif CJK ships CFF
(cubic) outlines. We convert the simplified-Chinese face of the collection once per machine:
each cubic curve becomes quadratic splines (fontTools' cu2qu, at most ``_MAX_ERR`` font
units off, i.e. 1/1000 em: 0.012 pt at 12 pt, far below what ink or a screen shows).

The conversion is pinned and checked:

- the cache file's name carries the source's digest, the converter's version and the
  fontTools version (pinned in pyproject.toml), so any change makes a new file;
- after converting, the result is read back and compared with the source: TrueType
  outlines only, the same character map, and an outline for every character that had one;
- for the Debian release we know, the output's SHA-256 must be the pinned one (the
  conversion is deterministic); every later load checks the file against the digest
  recorded beside it, so a damaged or altered cache is converted again, never used.

Only code points the face is meant to draw keep their outlines (`Coverage`); the other
glyphs of the collection (Japanese, Korean and traditional forms reached only through other
faces) become empty, which makes the conversion a third faster and the file smaller.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import fontTools
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, TTLibError, newTable

from .errors import FontsMissingError

__all__ = ["CONVERTER_VERSION", "Coverage", "TrueTypeCopy", "default_cache_dir"]

# Bump when anything below changes what a conversion writes.
CONVERTER_VERSION = "1"
_MAX_ERR = 1.0  # font units; the faces have 1000 units per em

# Output digests of the conversions of Debian's fonts-noto-cjk 1:20220127+repack1-1,
# keyed by (source SHA-256, face index, coverage). A known source converted to anything
# else means the converter changed under us: refuse rather than print with it.
_PINNED: dict[tuple[str, int, str], str] = {
    (
        "a04178ec485dffdff7cc0c0c20e1fce9202d7e2160d805e8e44a4c8841c58481",  # Regular.ttc
        2,
        "all",
    ): "0e0722e1f5ea1030966056b6c2ed6454bceea0b4a015cb9281a8d7a7588fdbb1",
    (
        "a5d4b046c127da3d7c72f98b46c41489cd29bf52abfdf18aba920903e920d4ac",  # Bold.ttc
        2,
        "gbk",
    ): "4beadb3b2be03a238ce56d74a88df892ae2e79d6b3f9fe909011db99cad65c42",
}


class Coverage(StrEnum):
    ALL = "all"  # every character of the face's character map
    GBK = "gbk"  # GB 18030's two-byte part (the old GBK set): enough for titles


@dataclass(frozen=True, slots=True)
class TrueTypeCopy:
    """One face of a CFF font collection, to be used through a converted TrueType copy."""

    source: Path
    index: int
    coverage: Coverage

    def path(self, cache_dir: Path) -> Path:
        """The converted file in `cache_dir`: converted now if missing or not intact."""
        source_digest = _sha256(self.source)
        name = (
            f"{self.source.stem}-{self.index}-{self.coverage.value}-{source_digest[:16]}"
            f"-v{CONVERTER_VERSION}-ft{fontTools.version}.ttf"
        )
        target = cache_dir / name
        manifest = target.with_suffix(".json")
        if _intact(target, manifest):
            return target
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with _locked(cache_dir / ".lock"):
                # Another process may have converted it while we waited for the lock.
                if not _intact(target, manifest):
                    self._convert_into(target, manifest, source_digest)
        except OSError as exc:
            raise FontsMissingError(
                f"cannot write the converted font into {cache_dir} ({exc.strerror}); "
                "set XDG_CACHE_HOME to a writable directory, or convert it there first "
                "with: python -m certificates.render"
            ) from exc
        return target

    def _convert_into(self, target: Path, manifest: Path, source_digest: str) -> None:
        # Under the lock no other process is converting: a .tmp file left here is from a
        # conversion that was killed (20 MB each), so it goes.
        for stale in target.parent.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            expected_cmap, outlined = convert(self.source, self.index, self.coverage, tmp)
            check(tmp, expected_cmap, outlined)
            digest = _sha256(tmp)
            pinned = _PINNED.get((source_digest, self.index, self.coverage.value))
            if pinned is not None and pinned != digest:
                raise FontsMissingError(
                    f"converting {self.source} gave a file with SHA-256 {digest}, "
                    f"not the pinned {pinned}: the font converter is not the one this "
                    "release was checked with"
                )
            tmp.chmod(0o644)  # mkstemp makes it private; the fonts are public files
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        record = {
            "source": str(self.source),
            "source_sha256": source_digest,
            "index": self.index,
            "coverage": self.coverage.value,
            "converter": CONVERTER_VERSION,
            "fonttools": fontTools.version,
            "sha256": digest,
        }
        manifest.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def default_cache_dir() -> Path:
    """Where converted fonts are kept: the XDG cache directory of the user."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "certledger" / "fonts"


def _wanted(coverage: Coverage, code_point: int) -> bool:
    if coverage is Coverage.ALL:
        return True
    try:
        chr(code_point).encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def convert(
    source: Path, index: int, coverage: Coverage, out: Path
) -> tuple[dict[int, int], frozenset[int]]:
    """Write face `index` of `source` to `out` with quadratic TrueType outlines.

    Returns the character map written (code point to glyph id) and the ids of the glyphs
    that have an outline, for `check`. Glyph names are not kept, so ids are compared.
    """
    try:
        font = TTFont(str(source), fontNumber=index, recalcTimestamp=False)
    except (OSError, TTLibError) as exc:
        raise FontsMissingError(f"cannot read font {source}: {exc}") from exc
    if "CFF " not in font:
        raise FontsMissingError(f"{source} (face {index}) has no CFF outlines to convert")
    cmap = {cp: g for cp, g in font.getBestCmap().items() if _wanted(coverage, cp)}
    keep = set(cmap.values()) | {".notdef"}
    glyph_set = font.getGlyphSet()
    order = font.getGlyphOrder()
    glyf: Any = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    hmtx = font["hmtx"].metrics
    outlined: set[int] = set()
    for gid, name in enumerate(order):
        pen = TTGlyphPen(None)
        if name in keep:
            # CFF contours run counter-clockwise, TrueType ones clockwise.
            glyph_set[name].draw(Cu2QuPen(pen, _MAX_ERR, reverse_direction=True))
        glyph = pen.glyph()
        glyph.recalcBounds(glyf)
        if glyph.numberOfContours:
            outlined.add(gid)
        hmtx[name] = (hmtx[name][0], glyph.xMin if glyph.numberOfContours else 0)
        glyf[name] = glyph
    del font["CFF "]
    if "VORG" in font:  # vertical origins are a CFF-only table
        del font["VORG"]
    font["loca"] = newTable("loca")
    font["glyf"] = glyf
    _truetype_maxp(font["maxp"])
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0  # no glyph names: PDF embedding does not use them
    _set_cmap(font, cmap)
    font.sfntVersion = "\x00\x01\x00\x00"
    font.save(str(out))
    ids = {name: gid for gid, name in enumerate(order)}
    return {cp: ids[name] for cp, name in cmap.items()}, frozenset(outlined)


def _truetype_maxp(maxp: Any) -> None:
    # CFF fonts carry the short (0.5) maxp; TrueType needs version 1.0 and its fields.
    # The point and contour maxima are recomputed from the outlines when saving.
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
        "maxComponentDepth",
        "maxPoints",
        "maxContours",
        "maxCompositePoints",
        "maxCompositeContours",
    ):
        setattr(maxp, attr, 0)


def _set_cmap(font: Any, cmap: dict[int, str]) -> None:
    from fontTools.ttLib.tables._c_m_a_p import cmap_format_4, cmap_format_12

    bmp = {cp: g for cp, g in cmap.items() if cp <= 0xFFFF}
    sub4 = cmap_format_4(4)
    sub4.platformID, sub4.platEncID, sub4.language, sub4.cmap = 3, 1, 0, bmp
    sub12 = cmap_format_12(12)
    sub12.platformID, sub12.platEncID, sub12.language, sub12.cmap = 3, 10, 0, dict(cmap)
    table: Any = newTable("cmap")
    table.tableVersion = 0
    table.tables = [sub4, sub12]
    font["cmap"] = table


def check(path: Path, expected_cmap: dict[int, int], outlined: frozenset[int]) -> None:
    """Read a conversion back: TrueType outlines only, the character map and outlines kept."""
    try:
        font = TTFont(str(path))
        problems = []
        if "glyf" not in font or "CFF " in font:
            problems.append("it does not have TrueType outlines only")
        cmap = {cp: font.getGlyphID(name) for cp, name in font.getBestCmap().items()}
        if cmap != expected_cmap:
            problems.append("its character map differs from the source's")
        glyf = font["glyf"]
        order = font.getGlyphOrder()
        lost = [gid for gid in outlined if not glyf[order[gid]].numberOfContours]
        if lost:
            problems.append(f"{len(lost)} glyphs lost their outlines")
    except (OSError, TTLibError, KeyError) as exc:
        problems = [f"it cannot be read back ({exc})"]
    if problems:
        raise FontsMissingError(
            f"the converted font {path.name} is not right: {'; '.join(problems)}"
        )


def _intact(target: Path, manifest: Path) -> bool:
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
        return bool(target.is_file() and record.get("sha256") == _sha256(target))
    except (OSError, ValueError):
        return False


def _sha256(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise FontsMissingError(f"cannot read font {path}: {exc}") from exc


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    # Processes started together (server workers, test sessions) convert once, not each.
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
