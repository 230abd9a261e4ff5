"""Converting a CFF face to TrueType outlines once, into a cache (certificates.render.truetype).

The converter is exercised on a small CFF font built here (three glyphs), so these tests take
milliseconds; the real Noto Serif CJK conversion is checked through `FontSet.discover` in
test_render.py and test_render_pictures.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib import TTFont
from reportlab.pdfbase.ttfonts import TTFont as ReportlabFont

from certificates.render import FontsMissingError
from certificates.render.truetype import Coverage, TrueTypeCopy, check, convert

# 中 is in GBK; 𠇔 (U+201D4, Extension B) is not.
CHARS = {0x4E2D: "uni4E2D", 0x201D4: "u201D4", 0x41: "A"}


def _cff_font(path: Path) -> Path:
    order = [".notdef", *CHARS.values(), "space"]
    builder = FontBuilder(1000, isTTF=False)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({**CHARS, 0x20: "space"})
    charstrings = {}
    for name in order:
        pen = T2CharStringPen(1000, None)
        if name != "space":
            # A square with a curved side: cubic curves that must become quadratic ones.
            pen.moveTo((100, 0))
            pen.lineTo((900, 0))
            pen.curveTo((950, 300), (950, 600), (900, 800))
            pen.lineTo((100, 800))
            pen.closePath()
        charstrings[name] = pen.getCharString()
    builder.setupCFF("TestSerif-Regular", {"FullName": "Test Serif"}, charstrings, {})
    builder.setupHorizontalMetrics({name: (1000, 100) for name in order})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "Test Serif", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return _cff_font(tmp_path / "TestSerif.otf")


def test_conversion_writes_truetype_outlines_reportlab_can_embed(
    source: Path, tmp_path: Path
) -> None:
    out = TrueTypeCopy(source, 0, Coverage.ALL).path(tmp_path / "cache")
    font = TTFont(str(out))
    assert "glyf" in font and "CFF " not in font
    assert set(font.getBestCmap()) == {*CHARS, 0x20}
    glyph = font["glyf"][font.getBestCmap()[0x4E2D]]
    assert glyph.numberOfContours == 1
    # Clockwise (TrueType's direction) and off-curve points: the curve is quadratic now.
    coords, _, flags = glyph.getCoordinates(font["glyf"])
    assert any(not f & 1 for f in flags)
    area = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(coords, [*coords[1:], coords[0]], strict=True)
    )
    assert area < 0
    ReportlabFont("TestSerifConverted", str(out))  # reportlab reads it: glyf outlines


def test_a_conversion_is_made_once_and_deterministic(source: Path, tmp_path: Path) -> None:
    copy = TrueTypeCopy(source, 0, Coverage.ALL)
    first = copy.path(tmp_path / "a")
    stamp = first.stat().st_mtime_ns
    assert copy.path(tmp_path / "a") == first and first.stat().st_mtime_ns == stamp
    second = copy.path(tmp_path / "b")
    assert second.read_bytes() == first.read_bytes()
    record = json.loads(first.with_suffix(".json").read_text())
    assert record["coverage"] == "all" and len(record["sha256"]) == 64


def test_a_damaged_cache_file_is_converted_again(source: Path, tmp_path: Path) -> None:
    copy = TrueTypeCopy(source, 0, Coverage.ALL)
    path = copy.path(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:-10] + b"0123456789")
    assert copy.path(tmp_path) == path and path.read_bytes() == good


def test_gbk_coverage_keeps_only_gb18030_two_byte_characters(source: Path, tmp_path: Path) -> None:
    out = TrueTypeCopy(source, 0, Coverage.GBK).path(tmp_path)
    cmap = TTFont(str(out)).getBestCmap()
    assert 0x4E2D in cmap and 0x41 in cmap and 0x201D4 not in cmap


def test_check_refuses_a_conversion_that_lost_outlines(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ttf"
    cmap, outlined = convert(source, 0, Coverage.ALL, out)
    check(out, cmap, outlined)
    with pytest.raises(FontsMissingError, match="character map"):
        check(out, {**cmap, 0x4E00: 1}, outlined)
    with pytest.raises(FontsMissingError, match="lost their outlines"):
        check(out, cmap, outlined | {len(CHARS) + 1})  # the space glyph has none


def test_a_font_without_cff_outlines_is_refused(tmp_path: Path) -> None:
    source = _cff_font(tmp_path / "TestSerif.otf")
    converted = TrueTypeCopy(source, 0, Coverage.ALL).path(tmp_path / "cache")
    with pytest.raises(FontsMissingError, match="no CFF outlines"):
        TrueTypeCopy(converted, 0, Coverage.ALL).path(tmp_path / "again")


def test_a_killed_conversion_leaves_nothing_behind_for_long(source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tmpkilled.tmp").write_bytes(b"half a font")
    TrueTypeCopy(source, 0, Coverage.ALL).path(cache)
    assert not list(cache.glob("*.tmp"))


def test_an_unwritable_cache_is_a_font_error_that_says_what_to_do(
    source: Path, tmp_path: Path
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(FontsMissingError, match="XDG_CACHE_HOME"):
        TrueTypeCopy(source, 0, Coverage.ALL).path(blocked / "fonts")
