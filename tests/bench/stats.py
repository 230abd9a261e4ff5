"""Metrics: the per-run values of one figure, their median and spread, and an optional target."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Metric", "Results", "Target", "percentile", "timed"]


@dataclass(frozen=True)
class Target:
    op: str  # ">=" or "<="
    value: float

    def met(self, x: float) -> bool:
        return x >= self.value if self.op == ">=" else x <= self.value

    def text(self, unit: str) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        if unit in ("x", "ratio"):
            return f"{sign} {self.value:.2f}"
        return f"{sign} {_num(self.value)}"


@dataclass
class Metric:
    key: str  # stable name in the JSON file, e.g. "issuance.pool.rate"
    section: str
    label: str
    unit: str
    runs: list[float] = field(default_factory=list)
    target: Target | None = None
    note: str = ""
    # Per run: cores used by other processes on the machine meanwhile (noise), and the CPU time
    # our processes spent per item (ms) - a cost that does not depend on that noise.
    other_cores: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(
        self, value: float, *, other_cores: float | None = None, cpu_ms: float | None = None
    ) -> None:
        self.runs.append(value)
        if other_cores is not None:
            self.other_cores.append(other_cores)
        if cpu_ms is not None:
            self.cpu_ms.append(cpu_ms)

    @property
    def median_other_cores(self) -> float | None:
        return statistics.median(self.other_cores) if self.other_cores else None

    @property
    def median_cpu_ms(self) -> float | None:
        return statistics.median(self.cpu_ms) if self.cpu_ms else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def spread_pct(self) -> float | None:
        """(max - min) / median, in percent: how far apart the repeated runs were."""
        m = self.median
        if m is None or len(self.runs) < 2 or m == 0:
            return None
        return 100.0 * (max(self.runs) - min(self.runs)) / abs(m)

    @property
    def met(self) -> bool | None:
        m = self.median
        if self.target is None or m is None:
            return None
        return self.target.met(m)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "section": self.section,
            "label": self.label,
            "unit": self.unit,
            "runs": [round(r, 4) for r in self.runs],
            "median": None if self.median is None else round(self.median, 4),
            "min": round(min(self.runs), 4) if self.runs else None,
            "max": round(max(self.runs), 4) if self.runs else None,
            "spread_pct": None if self.spread_pct is None else round(self.spread_pct, 2),
            "target": None
            if self.target is None
            else {"op": self.target.op, "value": self.target.value},
            "met": self.met,
            "note": self.note,
            "other_cores": [round(x, 3) for x in self.other_cores],
            "cpu_ms_per_item": [round(x, 3) for x in self.cpu_ms],
            "median_cpu_ms_per_item": None
            if self.median_cpu_ms is None
            else round(self.median_cpu_ms, 3),
        }


class Results:
    """All metrics in the order they were measured, plus notes and facts about the run."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.notes: list[str] = []
        self.facts: dict[str, Any] = {}

    def metric(
        self,
        key: str,
        section: str,
        label: str,
        unit: str,
        *,
        target: Target | None = None,
        note: str = "",
    ) -> Metric:
        m = self.metrics.get(key)
        if m is None:
            m = Metric(key, section, label, unit, target=target, note=note)
            self.metrics[key] = m
        return m

    def add(
        self,
        key: str,
        value: float,
        *,
        other_cores: float | None = None,
        cpu_ms: float | None = None,
    ) -> None:
        self.metrics[key].add(value, other_cores=other_cores, cpu_ms=cpu_ms)

    def get(self, key: str) -> Metric | None:
        return self.metrics.get(key)

    def ratio(
        self,
        key: str,
        section: str,
        label: str,
        numerator: str,
        denominator: str,
        *,
        target: Target | None = None,
        paired: bool = True,
        note: str = "",
    ) -> Metric | None:
        """A ratio metric. Paired: run i over run i (runs that were interleaved in time, so each
        pair saw the same machine state); otherwise the ratio of the two medians."""
        num, den = self.metrics.get(numerator), self.metrics.get(denominator)
        if num is None or den is None or not num.runs or not den.runs:
            return None
        m = self.metric(key, section, label, "x", target=target, note=note)
        m.runs.clear()
        if paired and len(num.runs) == len(den.runs):
            m.runs.extend(a / b for a, b in zip(num.runs, den.runs, strict=True) if b)
        else:
            assert num.median is not None and den.median is not None
            if den.median:
                m.runs.append(num.median / den.median)
        return m

    def note(self, text: str) -> None:
        self.notes.append(text)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which pct % of the samples fall)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _num(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"
