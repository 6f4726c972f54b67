"""The web app: routes, pages and their live streams. See README.md beside this file.

Every page is rendered on the server from tables (``tables.py``) through an
autoescaping template, then kept live over server-sent events. The only files served
are the package's own assets (a fixed list) and a known run's ``report.html``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from torchwarden.runtime.gpus import GpuListing, list_gpus
from torchwarden.runtime.index import (
    RunFilter,
    RunRow,
    get_run,
    list_runs,
    list_users,
    resolve_index_dir,
)
from torchwarden.runtime.lease_files import resolve_lease_dir
from torchwarden.web.access import AccessControl
from torchwarden.web.assets import asset_response
from torchwarden.web.exporter import RunsExporter
from torchwarden.web.live import changes, event_stream
from torchwarden.web.machine import Cached, machine_json, machine_tables
from torchwarden.web.runpage import RunPage, has_report, static_tables
from torchwarden.web.tables import runs_table

__all__ = ["ServeConfig", "create_app"]

RUN_ID = re.compile(r"\d{1,10}-\d{1,18}")
PAGE_ROWS, MAX_ROWS = 100, 5000  # rows on a runs page: by default, and at most
STATUSES = ("running", "waiting", "ok", "failed", "interrupted", "oom", "gave-up", "lost")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@dataclass(frozen=True)
class ServeConfig:
    """What ``torchwarden serve`` serves, and to whom."""

    token: str | None = None
    loopback_only: bool = True
    index_dir: Path = field(default_factory=resolve_index_dir)
    lease_dir: Path = field(default_factory=resolve_lease_dir)
    interval_s: float = 1.0  # how often live pages look for news
    list_gpus: Callable[[], GpuListing] = list_gpus  # NVML; a stand-in in docs and tests


def create_app(config: ServeConfig) -> AccessControl:
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every {{ value }} is escaped; nothing is marked safe
        undefined=jinja2.StrictUndefined,
    )
    pages = Pages(config, templates)
    routes = [
        Route("/", pages.machine),
        Route("/runs", pages.runs),
        Route("/runs/{run_id}", pages.run),
        Route("/runs/{run_id}/report.html", pages.report),
        Route("/static/{name}", lambda request: asset_response(request.path_params["name"])),
        Route("/live/machine", pages.live_machine),
        Route("/live/runs", pages.live_runs),
        Route("/live/runs/{run_id}", pages.live_run),
        Route("/api/runs", pages.api_runs),
        Route("/api/machine", pages.api_machine),
        Route("/metrics", pages.metrics),
    ]
    app = Starlette(routes=routes)
    return AccessControl(app, token=config.token, loopback_only=config.loopback_only)


class Pages:
    def __init__(self, config: ServeConfig, templates: jinja2.Environment) -> None:
        self.config = config
        self.templates = templates
        self.gpus = Cached(config.list_gpus, ttl_s=1.0)  # many viewers, one NVML read a second
        self.exporter = RunsExporter(config, self.gpus)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = self.templates.get_template(name).render(**context)
        return HTMLResponse(page, status_code=status)

    def _machine(self) -> dict[str, Any]:
        c = self.config
        return machine_tables(self.gpus, c.lease_dir, c.index_dir)

    def machine(self, request: Request) -> Response:
        return self.render("machine.html", page="machine", machine=self._machine())

    def _filter(self, request: Request) -> RunFilter:
        user = request.query_params.get("user") or None
        status = request.query_params.get("status") or None
        limit = request.query_params.get("limit", "")
        return RunFilter(
            user=user,
            status=status if status in STATUSES else None,
            limit=min(int(limit), MAX_ROWS) if limit.isdigit() and int(limit) > 0 else PAGE_ROWS,
        )

    def _runs(self, filters: RunFilter) -> dict[str, Any]:
        rows = list_runs(filters, index_dir=self.config.index_dir)
        shown = f"newest {len(rows)}" if len(rows) == filters.limit else str(len(rows))
        return {"runs": runs_table(rows).to_dict(), "count": shown}

    def runs(self, request: Request) -> Response:
        filters = self._filter(request)
        users = list_users(index_dir=self.config.index_dir)
        return self.render(
            "runs.html", page="runs", filters=filters, users=users, statuses=STATUSES,
            data=self._runs(filters), more=min((filters.limit or PAGE_ROWS) * 10, MAX_ROWS),
        )  # fmt: skip

    def _row(self, request: Request) -> RunRow | None:
        run_id = request.path_params["run_id"]
        if not RUN_ID.fullmatch(run_id):
            return None
        return get_run(run_id, index_dir=self.config.index_dir)

    def _missing(self) -> Response:
        return self.render("missing.html", status=404, page="runs")

    def run(self, request: Request) -> Response:
        row = self._row(request)
        if row is None:
            return self._missing()
        first = RunPage(row).poll(row) or {}
        return self.render(
            "run.html", page="run", row=row, data=first, report=has_report(row),
            static=static_tables(row),
        )  # fmt: skip

    def report(self, request: Request) -> Response:
        from torchwarden.metrics.rundir import open_run_file

        row = self._row(request)
        try:
            fd = open_run_file(row.out_dir, "report.html", row.uid) if row else -1
        except OSError:
            fd = -1
        if fd < 0:
            return self._missing()
        with os.fdopen(fd, "rb") as f:
            body = f.read()
        headers = {"Content-Security-Policy": REPORT_CSP}
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    def live_machine(self, request: Request) -> Response:
        return event_stream(changes(self._machine), interval=max(self.config.interval_s, 2.0))

    def live_runs(self, request: Request) -> Response:
        filters = self._filter(request)
        return event_stream(changes(lambda: self._runs(filters)), interval=self.config.interval_s)

    def live_run(self, request: Request) -> Response:
        row = self._row(request)
        if row is None:
            return self._missing()
        page, run_id, index_dir = RunPage(row), row.id, self.config.index_dir

        def produce() -> dict[str, Any] | None:
            return page.poll(get_run(run_id, index_dir=index_dir) or page.row)

        return event_stream(produce, interval=self.config.interval_s)

    def api_runs(self, request: Request) -> Response:
        rows = list_runs(self._filter(request), index_dir=self.config.index_dir)
        return JSONResponse({"schema": "torchwarden.runs/1", "at": time.time(),
                             "runs": [r.to_dict() for r in rows]})  # fmt: skip

    def api_machine(self, request: Request) -> Response:
        c = self.config
        return JSONResponse(machine_json(self.gpus, c.lease_dir, c.index_dir))

    def metrics(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.exporter.scrape(), media_type=CONTENT_TYPE_LATEST)
