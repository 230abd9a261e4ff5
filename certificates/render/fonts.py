"""The certificate fonts: one primary CJK font and fallbacks for rare name characters.

WenQuanYi Zen Hei (TrueType outlines, so reportlab can embed it) covers GB 18030's common
set and CJK Extension A; HanaMin A and B add the rest of the BMP and Extension B, where
rare characters of personal names live (e.g. 𠇔 U+201D4). Text is split into runs by which
font has a real glyph for each character, so nothing prints as a blank or a box.

Fonts are parsed once per process (they are tens of megabytes) and shared by every
`FontSet` and `Renderer` that names the same file.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFError, TTFont

from .errors import FontsMissingError

__all__ = ["DEFAULT_FONT_DIRS", "Font", "FontSet"]


@dataclass(frozen=True, slots=True)
class _Source:
    filename: str
    subfont_index: int
    debian_package: str
    default_dir: Path


# Order matters: the primary font first, then fallbacks in the order they are tried.
_SOURCES = (
    _Source("wqy-zenhei.ttc", 0, "fonts-wqy-zenhei", Path("/usr/share/fonts/truetype/wqy")),
    _Source("HanaMinA.ttf", 0, "fonts-hanazono", Path("/usr/share/fonts/truetype/hanazono")),
    _Source("HanaMinB.ttf", 0, "fonts-hanazono", Path("/usr/share/fonts/truetype/hanazono")),
)
DEFAULT_FONT_DIRS = tuple(dict.fromkeys(s.default_dir for s in _SOURCES))

# Characters the layout handles itself instead of drawing a glyph.
_LAYOUT_CHARS = frozenset("\n")


class _SupplementaryTTFont(TTFont):  # type: ignore[misc]  # reportlab ships no type hints
    """reportlab's TTFont, with a ToUnicode map that is right beyond the BMP.

    reportlab writes each ToUnicode entry as "<%04X>", which for U+201D4 gives five hex
    digits that readers misparse, so copying or searching 𠇔 in the PDF yields garbage.
    Characters above U+FFFF must be written as UTF-16BE surrogate pairs. We let reportlab
    build its objects, then replace the maps of the subsets that need it.
    """

    def addObjects(self, doc: Any) -> None:
        state = self.state.get(doc)
        subsets = [list(s) for s in state.subsets] if state is not None else []
        super().addObjects(doc)
        for n, subset in enumerate(subsets):
            if max(subset, default=0) <= 0xFFFF:
                continue
            base = (SUBSETN(n) + b"+" + self.face.name + self.face.subfontNameX).decode("latin-1")
            stream = doc.idToObject.get("toUnicodeCMap:" + base)
            if stream is not None:
                stream.content = _to_unicode_cmap(base, subset)


def _to_unicode_cmap(name: str, subset: list[int]) -> str:
    entries = "\n".join(
        f"<{code:02X}> <{chr(cp).encode('utf-16-be').hex().upper()}>"
        for code, cp in enumerate(subset)
    )
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        f"/CIDSystemInfo << /Registry ({name}) /Ordering ({name}) /Supplement 0 >> def\n"
        f"/CMapName /{name} def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
        f"{len(subset)} beginbfchar\n{entries}\nendbfchar\n"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )


@dataclass(frozen=True, slots=True, eq=False)
class Font:
    """One parsed font, registered with reportlab under `name`."""

    name: str
    path: Path
    subfont_index: int  # index within a TrueType collection (.ttc), else 0
    ttf: Any  # reportlab TTFont
    coverage: frozenset[int]  # code points with a real (non-empty) glyph

    def width(self, text: str, size: float) -> float:
        return float(self.ttf.stringWidth(text, size))


_loaded: dict[tuple[Path, int], Font] = {}
_load_lock = threading.Lock()


def _load(path: Path, subfont_index: int) -> Font:
    key = (path.resolve(), subfont_index)
    with _load_lock:
        font = _loaded.get(key)
        if font is None:
            font = _loaded[key] = _parse_and_register(key[0], subfont_index)
        return font


def _parse_and_register(path: Path, subfont_index: int) -> Font:
    tag = hashlib.sha256(f"{path}:{subfont_index}".encode()).hexdigest()[:8]
    name = f"CertLedger-{path.stem}-{tag}"
    try:
        ttf = _SupplementaryTTFont(name, str(path), subfontIndex=subfont_index)
    except (OSError, TTFError) as exc:
        raise FontsMissingError(f"cannot read font {path}: {exc}") from exc
    # reportlab shares one font object per face name across the process. Another module
    # registering a cut-down copy of the same face (a stamp font, say) would otherwise
    # silently stand in for ours and drop glyphs, so our faces get a name of their own.
    ttf.face.name = ttf.face.name + b"-CL" + tag[:4].encode()
    pdfmetrics.registerFont(ttf)
    return Font(name, path, subfont_index, ttf, _coverage(ttf))


def _coverage(ttf: Any) -> frozenset[int]:
    face = ttf.face
    offsets = face.glyphPos
    covered = []
    for cp, glyph in face.charToGlyph.items():
        if glyph == 0:
            continue
        # Some fonts map characters to an empty outline (WQY Zen Hei does for some
        # compatibility ideographs); such a character would print as nothing. Spaces are
        # legitimately empty.
        empty = offsets[glyph + 1] == offsets[glyph]
        if empty and not chr(cp).isspace():
            continue
        if unicodedata.category(chr(cp)) == "Cc":
            continue
        covered.append(cp)
    return frozenset(covered)


@dataclass(frozen=True, slots=True, eq=False)
class FontSet:
    """The primary font and its fallbacks, in the order they are tried."""

    fonts: tuple[Font, ...]

    @classmethod
    def discover(cls, font_dir: Path | None = None) -> FontSet:
        """Find and load the certificate fonts (from `font_dir`, else the Debian paths)."""
        paths: list[tuple[Path, int]] = []
        missing: list[_Source] = []
        for source in _SOURCES:
            path = _find(source, font_dir)
            if path is None:
                missing.append(source)
            else:
                paths.append((path, source.subfont_index))
        if missing:
            where = str(font_dir) if font_dir else ", ".join(map(str, DEFAULT_FONT_DIRS))
            files = ", ".join(s.filename for s in missing)
            packages = " ".join(dict.fromkeys(s.debian_package for s in missing))
            raise FontsMissingError(
                f"certificate fonts not found in {where}: {files}. "
                f"Install them with: apt-get install {packages}"
            )
        return cls(tuple(_load(path, index) for path, index in paths))

    @property
    def primary(self) -> Font:
        return self.fonts[0]

    @property
    def primary_path(self) -> Path:
        """The primary font file, e.g. for the signing layer to cut a stamp font from."""
        return self.primary.path

    @property
    def primary_index(self) -> int:
        return self.primary.subfont_index

    def font_for(self, char: str) -> Font | None:
        cp = ord(char)
        for font in self.fonts:
            if cp in font.coverage:
                return font
        return None

    def missing_chars(self, text: str) -> set[str]:
        """Characters of `text` that no font can draw (line breaks are the layout's job)."""
        return {c for c in set(text) - _LAYOUT_CHARS if self.font_for(c) is None}

    def runs(self, text: str) -> Iterator[tuple[Font, str]]:
        """Split `text` into maximal runs drawable with one font each.

        A character no font covers goes to the primary font (it prints as .notdef);
        validation rejects such text before it gets here.
        """
        current: Font | None = None
        start = 0
        for i, char in enumerate(text):
            font = self.font_for(char) or self.primary
            if font is not current:
                if current is not None:
                    yield current, text[start:i]
                current, start = font, i
        if current is not None:
            yield current, text[start:]

    def width(self, text: str, size: float) -> float:
        return sum(font.width(run, size) for font, run in self.runs(text))


def _find(source: _Source, font_dir: Path | None) -> Path | None:
    directory = font_dir if font_dir is not None else source.default_dir
    direct = directory / source.filename
    if direct.is_file():
        return direct
    if font_dir is not None:
        # Font packages nest files in subfolders; accept any depth under an explicit dir.
        for candidate in sorted(font_dir.rglob(source.filename)):
            if candidate.is_file():
                return candidate
    return None
