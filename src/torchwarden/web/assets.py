"""The app's own static files: a fixed list, read from the package, never a path from a request."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import PlainTextResponse, Response

__all__ = ["ASSETS", "asset_response"]

# uPlot 1.6.32 (MIT, uplot.LICENSE), vendored so that pages work offline
ASSETS = {
    "app.css": "text/css",
    "live.js": "text/javascript",
    "charts.js": "text/javascript",
    "uplot.iife.min.js": "text/javascript",
    "uplot.min.css": "text/css",
    "uplot.LICENSE": "text/plain",
}
STATIC = Path(__file__).parent / "static"


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def asset_response(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        return PlainTextResponse("Not found.", status_code=404)
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response(_read(name), media_type=f"{media_type}; charset=utf-8", headers=headers)
