"""The printed table and the JSON file."""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Any

from .stats import Metric, Results

__all__ = ["format_table", "write_json"]

_COLS = (
    ("measurement", 58),
    ("median", 9),
    ("unit", 7),
    ("spread", 6),
    ("runs", 22),
    ("other", 5),
    ("CPU/item", 9),
)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    if _width(text) > width:
        while text and _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _num(x: float | None, unit: str) -> str:
    if x is None or math.isnan(x):
        return "-"
    if unit == "x":
        return f"{x:.2f}x"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cores(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}c"


def _ms(x: float | None) -> str:
    if x is None:
        return ""
    if x < 1:
        return f"{1000 * x:.0f}µs"
    return f"{x:.1f}ms" if x < 100 else f"{x:,.0f}ms"


def _row(m: Metric) -> str:
    spread = "-" if m.spread_pct is None else f"{m.spread_pct:.0f}%"
    runs = " ".join(_num(r, m.unit).rstrip("x") for r in m.runs) or "-"
    unit = "" if m.unit == "x" else m.unit
    cells = [
        _pad(m.label, _COLS[0][1]),
        _pad(_num(m.median, m.unit), _COLS[1][1], right=True),
        _pad(unit, _COLS[2][1]),
        _pad(spread, _COLS[3][1], right=True),
        _pad(runs, _COLS[4][1]),
        _pad(_cores(m.median_other_cores), _COLS[5][1], right=True),
        _pad(_ms(m.median_cpu_ms), _COLS[6][1], right=True),
    ]
    if m.target is not None:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[m.met]
        cells.append(f"target {m.target.text(m.unit)}: {verdict}")
    return "  " + " ".join(cells).rstrip()


def format_table(results: Results) -> str:
    lines: list[str] = []
    header = "  " + " ".join(_pad(name, w) for name, w in _COLS) + " target"
    rule = "  " + "-" * (_width(header) - 2)
    # Sections sorted by their leading number; metrics keep their order within a section (the
    # CLI issuance figures, measured later, still print under issuance).
    sections: dict[str, list[Metric]] = {}
    for m in results.metrics.values():
        sections.setdefault(m.section, []).append(m)
    for section, metrics in sorted(sections.items(), key=lambda item: item[0]):
        lines += ["", section, header, rule]
        lines.extend(_row(m) for m in metrics)
    lines.append("")
    lines += [
        "  median = median of the runs; spread = (max - min) / median; runs = each run in order;",
        "  other = cores kept busy meanwhile by processes that are not the benchmark's (noise);",
        "  CPU/item = CPU time per item of the processes doing the work (issuance, components:",
        "  the benchmark and its workers; HTTP: the server and its workers); far less noisy",
        "  than the rates, though a busy host still inflates it somewhat.",
    ]
    missed = [m for m in results.metrics.values() if m.met is False]
    met = [m for m in results.metrics.values() if m.met is True]
    lines.append(f"  targets: {len(met)} met, {len(missed)} missed")
    for m in missed:
        lines.append(
            f"    MISSED: {m.label.strip()}: {_num(m.median, m.unit)}"
            f"{'' if m.unit == 'x' else ' ' + m.unit} "
            f"(target {m.target.text(m.unit) if m.target else ''})"
        )
    if results.notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in results.notes)
    return "\n".join(lines)


def write_json(path: Path, results: Results, extra: dict[str, Any]) -> None:
    body = {
        **extra,
        "facts": results.facts,
        "metrics": {k: m.to_json() for k, m in results.metrics.items()},
        "notes": results.notes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", "utf-8")
