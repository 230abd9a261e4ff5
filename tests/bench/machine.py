"""How busy the machine was during a run, from /proc (Linux; elsewhere nothing is reported).

A shared 2-core machine is noisy: other jobs steal CPU from a run and its figure drops. Each
run is therefore bracketed by a `CpuWindow`, which reports
  * `other_cores`: CPU used by processes that are not ours (this process and everything it
    started), averaged over the run, in cores - the noise that run suffered;
  * `cpu_seconds(pid)`: CPU used by one of our process trees (e.g. the server and its workers)
    during the run - a cost per request that does not depend on how busy the machine was.
"""

from __future__ import annotations

import os
import time

from .procs import descendants

__all__ = ["CpuWindow", "settle", "tree_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _system_busy_seconds() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            parts = fh.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    values = [int(v) for v in parts[1:]]
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    # Steal (a hypervisor giving our cores to someone else) counts as busy: it is lost to us.
    busy = sum(values[:8]) - values[3] - values[4]
    return busy / _TICK


def _process_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the process and its children already reaped, so CPU
    of processes that exit during a window is still counted (in their parent's figures)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    tail = stat[stat.rfind(b")") + 2 :].split()
    try:
        return sum(int(tail[i]) for i in (11, 12, 13, 14)) / _TICK
    except (IndexError, ValueError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    return sum(_process_cpu_seconds(p) for p in (pid, *descendants(pid)))


class CpuWindow:
    def __init__(self, *trees: int) -> None:
        self._trees = trees
        self._t0 = time.monotonic()
        self._busy0 = _system_busy_seconds()
        self._ours0 = tree_cpu_seconds(os.getpid())
        self._tree0 = {pid: tree_cpu_seconds(pid) for pid in trees}
        self.wall = 0.0
        self.other_cores: float | None = None
        self.ours_cpu = 0.0  # CPU seconds of this process and everything it started
        self._tree_cpu: dict[int, float] = {}

    def stop(self) -> CpuWindow:
        self.wall = time.monotonic() - self._t0
        busy = _system_busy_seconds()
        ours = tree_cpu_seconds(os.getpid()) - self._ours0
        self.ours_cpu = ours
        self._tree_cpu = {pid: tree_cpu_seconds(pid) - t0 for pid, t0 in self._tree0.items()}
        if busy is not None and self._busy0 is not None and self.wall > 0:
            self.other_cores = max(0.0, (busy - self._busy0 - ours) / self.wall)
        return self

    def cpu_seconds(self, pid: int) -> float:
        return self._tree_cpu.get(pid, 0.0)


def settle(pid: int, *, idle_cores: float = 0.1, timeout: float = 20.0) -> float:
    """Wait until the process tree `pid` is (nearly) idle; returns the seconds waited.

    When wrk stops, a server can still be working through requests it had accepted (slow
    pages queue up in its thread pool); without this the next run would pay for them."""
    start = time.monotonic()
    step = 0.25
    last = tree_cpu_seconds(pid)
    while time.monotonic() - start < timeout:
        time.sleep(step)
        now = tree_cpu_seconds(pid)
        if now - last <= idle_cores * step:
            break
        last = now
    return time.monotonic() - start
