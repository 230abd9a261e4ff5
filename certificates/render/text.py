"""Measuring, wrapping and drawing text across the primary and fallback fonts."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from .fonts import FontSet

__all__ = ["draw_text", "fit_size", "wrap", "wrap_tokens"]

Align = Literal["left", "centre", "right"]

# Chinese line-breaking rules (禁则): closing punctuation may not begin a line, opening
# punctuation may not end one.
_NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉”’,.;:?!)]}%…·")
_NO_LINE_END = frozenset("（《「『【〔〈“‘([{")
# A token is a run of spaces, a run of narrow (Latin) letters, or one wide character.
_TOKEN_RE = re.compile(
    r"[ \t]+|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]+|\S"
)


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _tokens(paragraph: str) -> list[str]:
    tokens: list[str] = []
    for token in _TOKEN_RE.findall(paragraph):
        if len(token) > 1 and not token.isspace() and any(_is_wide(c) for c in token):
            tokens.extend(token)  # a wide character the class above did not catch
        else:
            tokens.append(token)
    return tokens


def wrap_tokens(fonts: FontSet, text: str) -> list[list[tuple[str, float]]]:
    """Tokenise each paragraph once, with widths at size 1 (widths scale linearly)."""
    return [[(t, fonts.width(t, 1.0)) for t in _tokens(p)] for p in text.split("\n")]


def wrap(
    fonts: FontSet, paragraphs: list[list[tuple[str, float]]], size: float, max_width: float
) -> list[str]:
    """Break measured paragraphs into lines no wider than `max_width` at `size`.

    CJK text may break between any two characters; Latin words break only at spaces
    unless a single word is wider than the line.
    """
    lines: list[str] = []
    for tokens in paragraphs:
        lines.extend(_wrap_paragraph(fonts, tokens, size, max_width))
    return lines


def _wrap_paragraph(
    fonts: FontSet, tokens: list[tuple[str, float]], size: float, limit: float
) -> list[str]:
    lines: list[list[tuple[str, float]]] = []
    line: list[tuple[str, float]] = []
    width = 0.0
    queue = list(reversed(tokens))  # a stack: the next token is at the end
    while queue:
        token, unit = queue.pop()
        w = unit * size
        if token.isspace():
            if line:  # never start a line with spaces
                line.append((token, unit))
                width += w
            continue
        if width + w <= limit:
            line.append((token, unit))
            width += w
            continue
        if not line:
            if len(token) > 1:
                # A word wider than a whole line: break it between characters.
                queue.extend(reversed([(c, fonts.width(c, 1.0)) for c in token]))
            else:
                line.append((token, unit))  # one glyph wider than the line: place it anyway
                width += w
            continue
        queue.append((token, unit))
        last = line[-1][0]
        if (
            (token in _NO_LINE_START or last in _NO_LINE_END)
            and len(line) > 1
            and not last.isspace()
        ):
            # Carry the last character over so punctuation obeys the line-breaking rules.
            queue.append(line.pop())
        lines.append(line)
        line, width = [], 0.0
    if line or not lines:
        lines.append(line)
    return ["".join(t for t, _ in ln).rstrip() for ln in lines]


def draw_text(
    canvas: Any,
    fonts: FontSet,
    text: str,
    x: float,
    y: float,
    size: float,
    *,
    align: Align = "left",
    char_space: float = 0.0,
) -> float:
    """Draw one line at baseline `y`, switching fonts per run; returns its width."""
    runs = list(fonts.runs(text))
    width = sum(font.width(run, size) for font, run in runs) + char_space * max(len(text) - 1, 0)
    if align == "centre":
        x -= width / 2
    elif align == "right":
        x -= width
    obj = canvas.beginText(x, y)
    if char_space:
        obj.setCharSpace(char_space)
    for font, run in runs:
        obj.setFont(font.name, size)
        obj.textOut(run)
    if char_space:
        obj.setCharSpace(0)  # character spacing is graphics state: it outlives this text
    canvas.drawText(obj)
    return width


def fit_size(fonts: FontSet, text: str, size: float, width: float) -> float:
    """`size`, reduced just enough for `text` to fit on one line of `width`."""
    natural = fonts.width(text, size)
    return size if natural <= width else size * width / natural
