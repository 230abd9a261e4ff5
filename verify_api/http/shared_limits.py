"""Token buckets shared by every worker process of one server.

With several workers, buckets kept in each process would give a client (or an address) the
configured rate once per worker. ``certledger serve --workers N`` (N > 1) therefore creates one
table in a private directory and names it to the workers (``TABLE_ENV``); their limiters take
tokens from it, so the limit holds for the server as a whole.

The table is a file of fixed-size slots mapped into each worker. A key's slot is chosen by a
keyed hash (a random salt in the file's header, made when the table is created), so nobody
outside can aim two keys at one slot; the slot keeps the key's 64-bit fingerprint, and a
different key arriving in an occupied slot starts with a full bucket there (the earlier key's
state is dropped, as when the in-process limiter forgets its least recently used keys). Each
take holds an ``fcntl`` lock on its slot only, and time is ``time.monotonic()``, which on Linux
is one clock for every process of the machine. ``fcntl`` locks belong to a process, not a
thread, so threads of one worker also take an ordinary lock first.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import secrets
import struct
import threading
import time
from pathlib import Path

__all__ = ["TABLE_ENV", "SharedBuckets"]

TABLE_ENV = "CERTLEDGER_RATE_TABLE"

_MAGIC = b"CLRATE01"
_HEADER = struct.Struct("<8s16sQ")  # magic, salt, number of slots
_SLOT = struct.Struct("<Qdd8x")  # key fingerprint (0: empty), tokens, last refill
_DEFAULT_SLOTS = 1 << 16  # 2 MiB


class SharedBuckets:
    """One server's token buckets, shared by its worker processes (see the module text)."""

    blocking = False  # a take is a few memory operations under a lock

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size < _HEADER.size:
                raise ValueError(f"rate-limit table {path.name} is too short")
            mapped = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        magic, salt, slots = _HEADER.unpack_from(mapped, 0)
        if magic != _MAGIC or slots < 1 or size != _HEADER.size + slots * _SLOT.size:
            mapped.close()
            os.close(fd)
            raise ValueError(f"{path.name} is not a rate-limit table")
        self._fd = fd
        self._map = mapped
        self._lock = threading.Lock()
        self._salt: bytes = salt
        self._slots: int = slots

    @classmethod
    def create(cls, path: Path, slots: int = _DEFAULT_SLOTS) -> SharedBuckets:
        """A new, empty table at ``path`` (owner only; it must not exist yet)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, _HEADER.size + slots * _SLOT.size)  # slots read as zero: empty
            os.pwrite(fd, _HEADER.pack(_MAGIC, secrets.token_bytes(16), slots), 0)
        finally:
            os.close(fd)
        return cls(path)

    def __repr__(self) -> str:
        return f"SharedBuckets(slots={self._slots})"  # never the salt

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take one token from ``key``'s bucket: 0.0 when allowed, else the seconds until a
        token is available (as ``RateLimiter.hit``)."""
        digest = hashlib.blake2b(key.encode(), key=self._salt, digest_size=8).digest()
        fingerprint = int.from_bytes(digest, "little") or 1  # 0 marks an empty slot
        offset = _HEADER.size + (fingerprint % self._slots) * _SLOT.size
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, _SLOT.size, offset)
            try:
                held, tokens, last = _SLOT.unpack_from(self._map, offset)
                now = time.monotonic()
                if held != fingerprint:
                    tokens, last = burst, now
                tokens = min(burst, tokens + (now - last) * rate)
                if tokens >= 1.0:
                    tokens -= 1.0
                    wait = 0.0
                else:
                    wait = (1.0 - tokens) / rate
                _SLOT.pack_into(self._map, offset, fingerprint, tokens, now)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, _SLOT.size, offset)
        return wait

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
