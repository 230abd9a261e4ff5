"""Benchmark suite for certledger: `make bench` (= `python -m tests.bench`).

Not a test suite: nothing here asserts on timing. Each figure is measured several times (three by
default) on a throw-away deployment made with the real CLI, and the median, the spread and the
targets are printed side by side. See `tests/bench/__main__.py --help` for the options.

Modules:
  config      counts and durations of a full and of a `--quick` run
  stats       metrics (runs, median, spread, targets) and ratios
  procs       free ports, CLI subprocesses, the server process tree, clean shutdown by PID
  issuance    end-to-end issuance (domain service, pool and in-process; CLI issue-batch)
  components  renderer, our Sealer, bare pyHanko signing, in-process verification
  upload      POST /api/v1/verify against the running server from a thread pool
  wrk         wrk runs (status lookups, /healthz, QR pages) and a robust parser of wrk output
  report      the printed table and the JSON file
  runner      the order of the whole run

Other modules in this package with their own `python -m tests.bench.<name>` entry point are
separate benchmarks and are not run by `make bench`.
"""
