"""The report's table sections: findings, ranks, and the environment.

Findings are read generically, as :meth:`torchwarden.findings.Finding.to_dict` wrote
them: every finding shows its ``kind``, ``message``, ``fix``, ``step`` and ``rank``, and
below them whatever fields its kind adds (a leak's holder and site, an OOM's sizes and
largest tensors, a rule's verdict), formatted by what the field name says it holds
(``*_bytes`` and ``nbytes`` in IEC units, ``growth_per_step`` as ``+51.2 KiB a step``,
``shape`` as ``8×16``). A new kind of finding
needs nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from torchwarden.units import format_bytes

__all__ = ["environment_section", "findings_section", "ranks_section", "section"]

FINDING_COLUMNS = ("kind", "message", "fix", "step", "rank")
COMMON_FIELDS = frozenset({*FINDING_COLUMNS, "severity"})


def section(title: str, body: str, note: str = "") -> str:
    aside = f'<span class="note">{escape(note)}</span>' if note else ""
    return f"<section><h2>{escape(title)}{aside}</h2>{body}</section>"


def findings_section(record: Mapping[str, Any]) -> str:
    findings = record["findings"]
    note = record["summary"].get("evidence_note")  # the run saw too little to say "no leak"
    if not findings and record["status"] in ("ok", "running"):
        if note:
            return section("Findings", f'<p class="empty">No findings; {escape(note)}.</p>')
        return section("Findings", '<p class="empty ok">No findings: nothing leaked or failed.</p>')
    if not findings:  # a run that failed by its own exit code, with nothing more to say
        text = (
            f"No findings, but the run ended {record['status']} (exit code "
            f"{record['exit_code']}): the script's own output says why."
        )
        text += f" ({note}.)" if note else ""
        return section("Findings", f'<p class="empty">{escape(text)}</p>')
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


def attempts_section(record: Mapping[str, Any]) -> str:
    """The restarts of a torchrun run: each attempt, the rank whose death ended it, and how."""
    attempts = record.get("attempts") or []
    if len(attempts) <= 1 and not any(a["failed_rank"] is not None for a in attempts):
        return ""
    rows = "".join(
        _row(
            [
                str(a["attempt"]),
                str(a["ranks"]),
                _text(a["failed_rank"]),
                _text(a["how"]),
                _text(a["step"]),
                _text(a["resumed_from"]),
            ]
        )
        for a in attempts
    )
    columns = ("attempt", "ranks", "ended by rank", "how", "at its step", "resumed from")
    note = f"{len(attempts) - 1} restart(s)"
    return section("Attempts", _table(columns, rows), note)


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
    kind = escape(str(f["kind"]))
    cells = [
        f'<span class="kind kind-{kind}">{kind}</span>',
        escape(f["message"]),
        escape(f["fix"]),
        escape(_text(f.get("step"))),
        escape(_text(f.get("rank"))),
    ]
    row = _row(cells, raw=True)
    details = _details(f)
    if details:
        row += f'<tr class="detail"><td colspan="{len(FINDING_COLUMNS)}">{details}</td></tr>'
    return row


def _details(f: Mapping[str, Any]) -> str:
    """The kind's own fields: scalars as facts, lists of objects as tables."""
    extra = {k: v for k, v in f.items() if k not in COMMON_FIELDS and v not in (None, "", [], {})}
    tables = {k: v for k, v in extra.items() if isinstance(v, list) and _all_objects(v)}
    facts = "".join(
        f"<div><dt>{escape(_label(k))}</dt><dd>{_value(k, v)}</dd></div>"
        for k, v in extra.items()
        if k not in tables
    )
    nested = "".join(
        f'<p class="nested">{escape(_label(k))}</p>{_objects_table(v)}' for k, v in tables.items()
    )
    return (f'<dl class="facts">{facts}</dl>' if facts else "") + nested


def _all_objects(values: list[Any]) -> bool:
    return all(isinstance(v, Mapping) for v in values)


def _objects_table(rows: list[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    body = "".join(_row([_value(c, row.get(c)) for c in columns], raw=True) for row in rows)
    return _table([_label(c) for c in columns], body)


def _label(name: str) -> str:
    """``largest_free_block_bytes`` -> ``largest free block``; ``nbytes`` -> ``size``."""
    return "size" if name == "nbytes" else name.removesuffix("_bytes").replace("_", " ")


def _value(name: str, value: Any) -> str:
    """One field's value as escaped markup, formatted by what its name says it holds."""
    if value is None:
        return "—"
    if name == "nbytes" or name.endswith("_bytes"):
        return escape(format_bytes(value))
    if name == "growth_per_step" and isinstance(value, int | float):  # bytes a step
        return escape(f"{'-' if value < 0 else '+'}{format_bytes(round(abs(value)))} a step")
    if name == "shape" and isinstance(value, list):
        return escape("×".join(map(str, value)) or "scalar")
    if name in ("holder", "site", "library_site", "snapshot", "path"):
        return _code(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return escape(", ".join(map(str, value)))
    if isinstance(value, Mapping):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()))
    return escape(str(value))


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
