"""Run pyHanko's asyncio-based API from synchronous code, inside or outside a loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine made by ``factory`` to completion and return its result.

    ``asyncio.run`` refuses to start while the calling thread already runs an event loop
    (a synchronous helper called from an ``async def`` web handler). In that case the
    coroutine runs on a private loop in a helper thread; async callers should prefer the
    ``async_*`` variants so they do not block their loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="signing-sync") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
