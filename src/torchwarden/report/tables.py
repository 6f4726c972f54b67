"""The report's table sections: findings, ranks, and the environment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from torchwarden.units import format_bytes

__all__ = ["environment_section", "findings_section", "ranks_section", "section"]

FINDING_COLUMNS = ("kind", "message", "fix", "holder", "site", "size", "graph", "step", "rank")
OOM_FACTS = (
    ("requested", "requested_bytes"),
    ("free on device", "free_bytes"),
    ("reserved but unallocated", "reserved_unallocated_bytes"),
    ("largest free block", "largest_free_block_bytes"),
)


def section(title: str, body: str, note: str = "") -> str:
    aside = f'<span class="note">{escape(note)}</span>' if note else ""
    return f"<section><h2>{escape(title)}{aside}</h2>{body}</section>"


def findings_section(record: Mapping[str, Any]) -> str:
    findings = record["findings"]
    if not findings:
        return section("Findings", '<p class="empty ok">No findings: nothing leaked or failed.</p>')
    rows = "".join(_finding_rows(f) for f in findings)
    table = _table(FINDING_COLUMNS, rows, css="findings")
    return section("Findings", f'<div class="scroll">{table}</div>', "sizes in IEC units")


def ranks_section(record: Mapping[str, Any]) -> str:
    """Per-rank outcome, shown only for runs with several ranks."""
    ranks = record["ranks"]
    if record["world_size"] <= 1 and len(ranks) <= 1:
        return ""
    rows = "".join(
        _row(
            [
                escape(str(r["rank"])),
                escape(_text(r["pid"])),
                f'<span class="badge status-{escape(r["status"])}">{escape(r["status"])}</span>',
                escape(_text(r["exit_code"])),
                escape(str(r["steps"])),
            ],
            raw=True,
        )
        for r in ranks
    )
    return section("Ranks", _table(("rank", "pid", "status", "exit code", "steps"), rows))


def environment_section(record: Mapping[str, Any]) -> str:
    env = record["environment"]
    shown = {k: v for k, v in env.items() if k != "gpus"}
    rows = "".join(_row([str(k), _text(v)]) for k, v in shown.items())
    gpus = "".join(
        _row([str(g["index"]), _text(g["name"]), format_bytes(g["memory_total"])])
        for g in env["gpus"]
    )
    gpu_table = _table(("GPU", "name", "memory"), gpus) if gpus else '<p class="empty">No GPU.</p>'
    return section("Environment", f'<div class="env">{_table((), rows, css="kv")}{gpu_table}</div>')


def _finding_rows(f: Mapping[str, Any]) -> str:
    kind = escape(f["kind"])
    cells = [
        f'<span class="kind kind-{kind}">{kind}</span>',
        escape(f["message"]),
        escape(f["fix"]),
        _code(f.get("holder")),
        _code(f.get("site")),
        escape(format_bytes(f.get("nbytes"))),
        escape(_graph(f)),
        escape(_text(f.get("step"))),
        escape(_text(f.get("rank"))),
    ]
    row = _row(cells, raw=True)
    if f["kind"] == "oom":
        row += f'<tr class="detail"><td colspan="{len(FINDING_COLUMNS)}">{_oom_detail(f)}</td></tr>'
    return row


def _graph(f: Mapping[str, Any]) -> str:
    if f.get("retains_graph") is None:
        return "—"
    if not f["retains_graph"]:
        return "no graph"
    return format_bytes(f.get("graph_bytes")) if f.get("graph_bytes") is not None else "retained"


def _oom_detail(f: Mapping[str, Any]) -> str:
    facts = "".join(
        f"<div><dt>{escape(name)}</dt><dd>{escape(format_bytes(f.get(key)))}</dd></div>"
        for name, key in OOM_FACTS
    )
    snapshot = f.get("snapshot")
    snap = f"<p>Allocator snapshot: <code>{escape(snapshot)}</code></p>" if snapshot else ""
    tensors = "".join(
        _row(
            [
                _code(t["holder"]),
                _code(t["site"]),
                escape(format_bytes(t["nbytes"])),
                escape("×".join(map(str, t["shape"])) or "scalar"),
                escape(t["dtype"]),
            ],
            raw=True,
        )
        for t in f["top_tensors"]
    )
    top = _table(("holder", "site", "size", "shape", "dtype"), tensors) if tensors else ""
    return f'<p class="verdict">{escape(f["verdict"])}</p><dl class="facts">{facts}</dl>{snap}{top}'


def _text(value: Any) -> str:
    return "—" if value is None else str(value)


def _code(value: Any) -> str:
    return "—" if value is None else f"<code>{escape(str(value))}</code>"


def _row(cells: Iterable[str], *, raw: bool = False) -> str:
    """A table row; cells are escaped here unless ``raw`` (already-escaped markup)."""
    return "<tr>" + "".join(f"<td>{c if raw else escape(c)}</td>" for c in cells) + "</tr>"


def _table(columns: Iterable[str], rows: str, *, css: str = "") -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}>{thead}<tbody>{rows}</tbody></table>"
