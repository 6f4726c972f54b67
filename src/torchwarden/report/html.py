"""The offline HTML report: one file, inline CSS and SVG, no script, nothing fetched.

Every piece of text from the record passes through :func:`html.escape`, since command
lines, tensor holders and error messages come from user code.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from torchwarden._version import __version__
from torchwarden.durable import write_atomic
from torchwarden.errors import ReportError
from torchwarden.report.charts import memory_section, step_time_section
from torchwarden.report.schema import validate_run_record
from torchwarden.report.tables import (
    attempts_section,
    environment_section,
    findings_section,
    ranks_section,
)
from torchwarden.units import format_bytes, format_seconds

__all__ = ["render_report", "write_report"]


def render_report(record: Mapping[str, Any]) -> str:
    """The report page for a validated run record, as a string."""
    validate_run_record(record)
    css = files("torchwarden.report").joinpath("assets/report.css").read_text(encoding="utf-8")
    body = "".join(
        [
            _header(record),
            _summary(record),
            memory_section(record),
            step_time_section(record),
            findings_section(record),
            attempts_section(record),
            ranks_section(record),
            environment_section(record),
            _footer(record),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(record['name'])} · torchwarden run report</title>\n"
        f"<style>\n{css}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_report(record: Mapping[str, Any], path: Path) -> Path:
    """Write the report to ``path`` (a directory gets ``report.html`` inside) and return it.

    The file appears whole or not at all: it is written beside its target and renamed.
    """
    target = Path(path)
    if target.is_dir():
        target = target / "report.html"
    page = render_report(record)
    try:
        write_atomic(target, page)  # durable, and no temp file left behind
    except OSError as e:
        raise ReportError(
            f"Cannot write the report {target}: {e.strerror or e}. Free space or choose "
            "another directory."
        ) from None
    return target


def _header(record: Mapping[str, Any]) -> str:
    status = record["status"]
    exit_code = "—" if record["exit_code"] is None else str(record["exit_code"])
    facts = [
        ("exit code", exit_code),
        ("duration", format_seconds(record["duration_s"])),
        ("started", _when(record["started_at"])),
        ("ended", _when(record["ended_at"])),
        ("ranks", str(record["world_size"])),
    ]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    return (
        '<header class="run">'
        f'<div class="title"><h1>{escape(record["name"])}</h1>'
        f'<span class="badge status-{escape(status)}">{escape(status)}</span></div>'
        f'<pre class="command"><code>$ {escape(shlex.join(record["command"]))}</code></pre>'
        f'<dl class="facts">{items}</dl></header>'
    )


def _when(iso: str) -> str:
    """``2026-11-21T12:00:00Z`` as ``2026-11-21 12:00:00 UTC``; other offsets kept as written."""
    return iso.replace("T", " ", 1).replace("Z", " UTC") if iso.endswith("Z") else iso


def _summary(record: Mapping[str, Any]) -> str:
    summary = record["summary"]
    findings = record["findings"]
    cards = [
        ("steps", str(summary["steps"])),
        ("median step", format_seconds(summary["median_step_s"])),
        ("findings", str(len(findings))),
    ]
    cards += [(f"peak {device}", format_bytes(n)) for device, n in summary["peak_memory"].items()]
    tone = ' class="alert"' if findings else ""
    html = "".join(
        f"<div{tone if name == 'findings' else ''}><span>{escape(name)}</span>"
        f"<strong>{escape(value)}</strong></div>"
        for name, value in cards
    )
    return f'<section class="cards">{html}</section>'


def _footer(record: Mapping[str, Any]) -> str:
    return (
        f"<footer>Written by torchwarden {escape(__version__)} from run record "
        f"<code>{escape(record['schema'])}</code>. Sizes in IEC units: 1 KiB = 1024 bytes, "
        "1 MiB = 2<sup>20</sup>, 1 GiB = 2<sup>30</sup> bytes. This page is self-contained and "
        "opens offline.</footer>"
    )
