"""Entry point: `python -m tests.bench [--quick] [--json PATH]`."""

from tests.bench.runner import main

raise SystemExit(main())
