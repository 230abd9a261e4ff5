"""The real command line at another time: ``python -m tests.interop.frozen_cli ISO-TIME
<certledger arguments>`` runs ``certledger`` with the clock at ISO-TIME (and ticking), so
that a test can rotate the TSA and renew shortly before the first TSA certificate expires,
years from now, as an operator would then."""

from __future__ import annotations

import sys

from freezegun import freeze_time

from verify_api.cli.main import main

if __name__ == "__main__":
    when = sys.argv.pop(1)
    with freeze_time(when, tick=True):
        main()
