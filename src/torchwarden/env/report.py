"""The ``torchwarden.env/1`` document: a fingerprint plus, when they ran, rules and probes.

The same document is what ``doctor --json`` writes, what ``doctor --fingerprint`` and
``env diff`` read, and what the test fixtures record. See ``docs/env-schema.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from torchwarden._version import __version__
from torchwarden.env.schema import check_document
from torchwarden.errors import FingerprintError
from torchwarden.untrusted import UntrustedInput, load_json_file

__all__ = ["SCHEMA", "exit_code", "load", "make", "save", "summary"]

SCHEMA = "torchwarden.env/1"
_MAJOR = SCHEMA.rsplit("/", 1)[0] + "/"

# verdicts of rules and statuses of probes, worst last
LEVELS = ("skip", "ok", "warn", "fail")
MAX_DOCUMENT_BYTES = 16 << 20  # a fingerprint with probes is tens of KiB


def make(
    fingerprint: dict[str, Any],
    rules: list[dict[str, Any]] | None = None,
    probes: list[dict[str, Any]] | None = None,
    *,
    source: str = "live",
) -> dict[str, Any]:
    results = (rules or []) + (probes or [])
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torchwarden": __version__,
        "source": source,
        "fingerprint": fingerprint,
        "rules": rules or [],
        "probes": probes or [],
        "summary": summary(results),
    }


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r.get("verdict") or r.get("status") for r in results)
    return {level: counts.get(level, 0) for level in LEVELS}


def exit_code(report: dict[str, Any], *, strict: bool = False) -> int:
    """0 ok, 1 warnings (only when ``strict``), 2 failures."""
    counts = summary(report.get("rules", []) + report.get("probes", []))
    if counts["fail"]:
        return 2
    return 1 if strict and counts["warn"] else 0


def save(report: dict[str, Any], path: str | Path) -> None:
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        raise FingerprintError(
            f"cannot write {target}: {exc.strerror}; pass --json a writable path."
        ) from None


def load(path: str | Path) -> dict[str, Any]:
    """Read a ``torchwarden.env/1`` document; the error says what is wrong and how to get one.

    The file is input from elsewhere: special files are refused unread, size, nesting and
    numbers are bounded, and every field the readers use is checked (``env.schema``).
    """
    source = Path(path)
    try:
        data = load_json_file(source, max_bytes=MAX_DOCUMENT_BYTES)
    except OSError as exc:
        raise FingerprintError(
            f"cannot read fingerprint {source}: {exc.strerror}; record one with "
            "`torchwarden doctor --json PATH`."
        ) from None
    except UntrustedInput as exc:
        raise FingerprintError(
            f"{source} {exc}: it is not a fingerprint. Pass a file written by "
            "`torchwarden doctor --json PATH`."
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith(_MAJOR):
        raise FingerprintError(
            f"{source} has schema {_shown(schema)}, expected {SCHEMA!r}; record a fingerprint "
            "with `torchwarden doctor --json PATH`."
        )
    if schema != SCHEMA:
        raise FingerprintError(
            f"{source} has schema {_shown(schema)}; this torchwarden reads {SCHEMA!r}. "
            "Upgrade torchwarden (pip install -U torchwarden)."
        )
    if not isinstance(data.get("fingerprint"), dict):
        raise FingerprintError(f"{source} has no 'fingerprint' object; the file is truncated?")
    try:
        check_document(data)
    except FingerprintError as exc:
        raise FingerprintError(f"{source}: {exc}") from None
    document: dict[str, Any] = data
    return document


def _shown(value: Any) -> str:
    return repr(value)[:60] if isinstance(value, str) else type(value).__name__
