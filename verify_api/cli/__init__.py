"""The `certledger` command line: one module per command group."""

from verify_api.cli.main import app, main

__all__ = ["app", "main"]
