"""The real command line with one fault injected through the issuance service's seam: the
process dies (exit 137, as after a kill -9 or a power cut) right after the sealed certificates
are stored as pending and before they are anchored.

Run as ``python -m tests.crash_cli <certledger arguments>``; the crash-safety tests do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from certificates.issuance.service import IssuanceService
from certificates.store.database import CertificateRow
from verify_api.cli.main import main


def _power_cut(_rows: Sequence[CertificateRow]) -> None:
    os._exit(137)


if __name__ == "__main__":
    IssuanceService.after_store = staticmethod(_power_cut)
    main()
