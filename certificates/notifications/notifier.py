"""What a workflow needs to tell subscribers about an event: one method, so services do not
depend on how deliveries are made (the dispatcher in a server or a command, a list in a test)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Details", "Notifier", "Silent"]

# The event's extra fields, or a function that makes them: called only when some
# subscription is reached (foreign lookups emit on every request, and most reach nobody).
Details = dict[str, Any] | Callable[[], dict[str, Any]]


class Notifier(Protocol):
    def emit(self, event: str, cert_id: str, issuer: str, details: Details) -> int:
        """Queue ``event`` for every subscription it reaches; returns how many."""
        ...


class Silent:
    """Tells nobody: for a deployment opened only to read (verification)."""

    def emit(self, event: str, cert_id: str, issuer: str, details: Details) -> int:
        return 0
