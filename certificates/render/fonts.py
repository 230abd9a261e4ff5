"""The certificate fonts: a Song (宋体) face for the text, a bold one for titles, and
fallbacks for rare name characters.

Official certificates are set in Song or FangSong, titles in a heavier Song (the practice
GB/T 9704 writes down for official documents); docs/decisions/certificate-typeface.md says
why Noto Serif CJK SC was chosen. Its simplified-Chinese face covers all of GB 18030's
two-byte set and CJK Extension A; it ships CFF outlines, which reportlab cannot embed, so
`truetype` converts it once into a cache. HanaMin A and B add the rest of the BMP and
Extension B, where rare characters of personal names live (e.g. 𠇔 U+201D4). Text is split
into runs by which font has a real glyph for each character, so nothing prints as a blank
or a box.

Fonts are parsed once per process (they are tens of megabytes) and shared by every
`FontSet` and `Renderer` that names the same file.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFError, TTFont

from .errors import FontsMissingError
from .truetype import Coverage, TrueTypeCopy, default_cache_dir

__all__ = ["DEFAULT_FONT_DIRS", "Font", "FontSet"]


@dataclass(frozen=True, slots=True)
class _Source:
    filename: str
    subfont_index: int
    debian_package: str
    default_dir: Path
    # CFF outlines: used through a TrueType copy with this coverage (see `truetype`).
    convert: Coverage | None = None


_NOTO = Path("/usr/share/fonts/opentype/noto")
_HANAZONO = Path("/usr/share/fonts/truetype/hanazono")
_SC = 2  # the simplified-Chinese face of the Noto CJK collections (JP, KR, SC, TC, HK)
# Order matters: the primary font first, then fallbacks in the order they are tried.
_SOURCES = (
    _Source("NotoSerifCJK-Regular.ttc", _SC, "fonts-noto-cjk", _NOTO, Coverage.ALL),
    _Source("HanaMinA.ttf", 0, "fonts-hanazono", _HANAZONO),
    _Source("HanaMinB.ttf", 0, "fonts-hanazono", _HANAZONO),
)
# Titles; characters it lacks come from the text fonts above.
_TITLE_SOURCE = _Source("NotoSerifCJK-Bold.ttc", _SC, "fonts-noto-cjk", _NOTO, Coverage.GBK)
DEFAULT_FONT_DIRS = tuple(dict.fromkeys(s.default_dir for s in _SOURCES))

# Characters the layout handles itself instead of drawing a glyph.
_LAYOUT_CHARS = frozenset("\n")


class _SupplementaryTTFont(TTFont):  # type: ignore[misc]  # reportlab ships no type hints
    """reportlab's TTFont, with a ToUnicode map that is right beyond the BMP.

    reportlab writes each ToUnicode entry as "<%04X>", which for U+201D4 gives five hex
    digits that readers misparse, so copying or searching 𠇔 in the PDF yields garbage.
    Characters above U+FFFF must be written as UTF-16BE surrogate pairs. We let reportlab
    build its objects, then replace the maps of the subsets that need it.

    And a glyph table read without a copy: to cut a subset reportlab takes the whole
    ``glyf`` table as a slice of the file's bytes, which for the Song face is a 20 MB copy
    (about 5 ms) per font and document, for the few hundred glyphs a certificate uses.
    """

    def __init__(self, name: str, filename: str, subfontIndex: int = 0) -> None:
        super().__init__(name, filename, subfontIndex=subfontIndex)
        face = self.face
        copying_get_table = face.get_table

        def get_table(tag: str) -> Any:
            if tag != "glyf":
                return copying_get_table(tag)
            pos, length = face.get_table_pos(tag)
            return _GlyphTable(memoryview(face._ttf_data)[pos : pos + length])

        face.get_table = get_table

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


class _GlyphTable:
    """A font table seen through a memoryview; each slice taken from it is its own bytes."""

    __slots__ = ("_view",)

    def __init__(self, view: memoryview) -> None:
        self._view = view

    def __getitem__(self, key: slice) -> bytes:
        return self._view[key].tobytes()

    def __len__(self) -> int:
        return len(self._view)


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
    path: Path  # the TrueType file reportlab reads (for a converted face, the cached copy)
    subfont_index: int  # index within a TrueType collection (.ttc), else 0
    ttf: Any = field(repr=False)  # reportlab TTFont
    coverage: frozenset[int] = field(repr=False)  # code points with a real (non-empty) glyph
    source: Path  # the installed font file `path` was made from (`path` itself if not converted)

    def width(self, text: str, size: float) -> float:
        return float(self.ttf.stringWidth(text, size))


_loaded: dict[tuple[Path, int], Font] = {}
_load_lock = threading.Lock()


def _load(path: Path, subfont_index: int, source: Path) -> Font:
    key = (path.resolve(), subfont_index)
    with _load_lock:
        font = _loaded.get(key)
        if font is None:
            font = _loaded[key] = _parse_and_register(key[0], subfont_index, source)
        return font


def _parse_and_register(path: Path, subfont_index: int, source: Path) -> Font:
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
    return Font(name, path, subfont_index, ttf, _coverage(ttf), source)


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
    """The primary font and its fallbacks, in the order they are tried.

    `title_fonts` come first for headings (`title_set`); the fallbacks stay the same.
    """

    fonts: tuple[Font, ...]
    title_fonts: tuple[Font, ...] = ()

    @classmethod
    def discover(cls, font_dir: Path | None = None, cache_dir: Path | None = None) -> FontSet:
        """Find and load the certificate fonts (from `font_dir`, else the Debian paths).

        Faces with CFF outlines are converted into `cache_dir` (default: the user's cache
        directory) the first time; that takes about a minute, once per machine.
        """
        found: list[tuple[_Source, Path]] = []
        missing: list[_Source] = []
        for source in (*_SOURCES, _TITLE_SOURCE):
            path = _find(source, font_dir)
            if path is None:
                missing.append(source)
            else:
                found.append((source, path))
        if missing:
            where = str(font_dir) if font_dir else ", ".join(map(str, DEFAULT_FONT_DIRS))
            files = ", ".join(s.filename for s in missing)
            packages = " ".join(dict.fromkeys(s.debian_package for s in missing))
            raise FontsMissingError(
                f"certificate fonts not found in {where}: {files}. "
                f"Install them with: apt-get install {packages}"
            )
        cache = cache_dir if cache_dir is not None else default_cache_dir()
        loaded = [_load(*_truetype(source, path, cache), path) for source, path in found]
        return cls(tuple(loaded[:-1]), title_fonts=(loaded[-1],))

    @property
    def primary(self) -> Font:
        return self.fonts[0]

    @property
    def title_set(self) -> FontSet:
        """The same fonts with the title face tried first, for headings."""
        return FontSet((*self.title_fonts, *self.fonts)) if self.title_fonts else self

    def all_fonts(self) -> tuple[Font, ...]:
        return (*self.title_fonts, *self.fonts)

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


_converted: dict[tuple[Path, int, Coverage, Path], Path] = {}


def _truetype(source: _Source, path: Path, cache_dir: Path) -> tuple[Path, int]:
    """The TrueType file (and face index) to load for `source` found at `path`."""
    if source.convert is None:
        return path, source.subfont_index
    key = (path.resolve(), source.subfont_index, source.convert, cache_dir)
    with _load_lock:
        converted = _converted.get(key)
        if converted is None:
            copy = TrueTypeCopy(key[0], source.subfont_index, source.convert)
            converted = _converted[key] = copy.path(cache_dir)
    return converted, 0


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
