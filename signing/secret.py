"""A string that never shows itself in a repr, a log line or an error message."""

from __future__ import annotations

import hmac
import os
from typing import Any, Final

from signing.errors import MissingPassphraseError

__all__ = ["Secret", "from_env"]

_MASK: Final = "**********"


class Secret:
    """Hold a secret string (a passphrase, an API token) and mask it everywhere.

    ``repr()``, ``str()`` and ``format()`` all return a mask, so a secret can be passed
    through logging calls and f-strings without leaking. Call :meth:`reveal` at the one
    place that really needs the value (e.g. decrypting a key).

    Secrets are deliberately not picklable: handing a passphrase to another process
    should be an explicit decision (environment variable, file descriptor), not a side
    effect of pickling a configuration object.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret value must be a str")
        self._value = value

    @classmethod
    def from_env(cls, name: str) -> Secret:
        """Read the secret from the environment variable ``name``.

        :raises MissingPassphraseError: the variable is unset or empty.
        """
        value = os.environ.get(name, "")
        if not value:
            raise MissingPassphraseError(
                f"the environment variable {name} is not set or empty; "
                f"export {name} with the PKI passphrase and retry"
            )
        return cls(value)

    def reveal(self) -> str:
        """Return the secret value. Keep the result out of logs and messages."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time comparison: equality checks on secrets must not leak timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        # Hashing would make the value recoverable by brute force from a dict; refuse.
        raise TypeError("Secret is not hashable")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("Secret cannot be pickled; pass the passphrase explicitly")


def from_env(name: str) -> Secret:
    """Read a secret from the environment variable ``name`` (see :meth:`Secret.from_env`)."""
    return Secret.from_env(name)
