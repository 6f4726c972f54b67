"""Server-sent events: a page's data, sent again whenever it changes.

Each stream polls its source in a worker thread (the sources read files and SQLite)
every ``interval`` seconds and sends a message only when there is something new; a
comment line every 15 s keeps proxies from closing an idle stream. A stream ends
after ``max_age_s``; the browser's ``EventSource`` reconnects on its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

__all__ = ["changes", "event_stream"]

KEEPALIVE_S = 15.0


def event_stream(
    produce: Callable[[], dict[str, Any] | None], *, interval: float, max_age_s: float = 3600.0
) -> StreamingResponse:
    """A ``text/event-stream`` answer sending each non-``None`` value of ``produce()`` as JSON."""

    async def messages() -> AsyncIterator[str]:
        start = last_sent = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - start < max_age_s:
            message = await run_in_threadpool(produce)
            if message is not None:
                yield f"data: {json.dumps(message, separators=(',', ':'))}\n\n"
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(interval)

    headers = {"X-Accel-Buffering": "no"}  # nginx would otherwise hold messages back
    return StreamingResponse(messages(), media_type="text/event-stream", headers=headers)


def changes(source: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any] | None]:
    """Wrap ``source`` so that a value equal to the last one sent becomes ``None``."""
    last: list[str] = []

    def produce() -> dict[str, Any] | None:
        value = source()
        encoded = json.dumps(value, sort_keys=True)
        if last and last[0] == encoded:
            return None
        last[:] = [encoded]
        return value

    return produce
