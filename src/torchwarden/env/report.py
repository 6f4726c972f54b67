"""The ``torchwarden.env/1`` document: a fingerprint plus, when they ran, rules and probes.

The same document is what ``doctor --json`` writes, what ``doctor --fingerprint`` and
``env diff`` read, and what the test fixtures record. See ``docs/env-schema.md``. Rules and
probes are typed findings in memory (:class:`~torchwarden.findings.RuleFinding`,
:class:`~torchwarden.findings.ProbeFinding`) and their ``to_dict()`` in the document;
:func:`findings` reads them back.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from torchwarden._version import __version__
from torchwarden.env.schema import check_document
from torchwarden.env.verdict import LEVELS, severity
from torchwarden.errors import FingerprintError
from torchwarden.findings import Finding, ProbeFinding, RuleFinding, finding_from_dict
from torchwarden.untrusted import UntrustedInput, load_json_file

__all__ = ["LEVELS", "SCHEMA", "exit_code", "findings", "level", "load", "make", "save", "summary"]

SCHEMA = "torchwarden.env/1"
_MAJOR = SCHEMA.rsplit("/", 1)[0] + "/"

MAX_DOCUMENT_BYTES = 16 << 20  # a fingerprint with probes is tens of KiB


def make(
    fingerprint: dict[str, Any],
    rules: Sequence[Finding] = (),
    probes: Sequence[Finding] = (),
    *,
    source: str = "live",
) -> dict[str, Any]:
    """The JSON-ready document for ``fingerprint`` judged by ``rules`` and ``probes``."""
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torchwarden": __version__,
        "source": source,
        "fingerprint": fingerprint,
        "rules": [r.to_dict() for r in rules],
        "probes": [p.to_dict() for p in probes],
        "summary": summary([*rules, *probes]),
    }


def level(finding: Finding) -> str:
    """A rule's verdict or a probe's status: one of ``LEVELS``."""
    if isinstance(finding, RuleFinding):
        return finding.verdict
    return finding.status if isinstance(finding, ProbeFinding) else "skip"


def summary(results: Sequence[Finding]) -> dict[str, int]:
    counts = Counter(level(r) for r in results)
    return {name: counts.get(name, 0) for name in LEVELS}


_KINDS: dict[str, type[Finding]] = {"rules": RuleFinding, "probes": ProbeFinding}


def findings(report: dict[str, Any], group: Literal["rules", "probes"]) -> list[Finding]:
    """The rule or probe findings of a document, typed.

    Files written before findings carried a severity get it from their verdict or status.
    """
    out: list[Finding] = []
    expected = _KINDS[group]
    for i, data in enumerate(report.get(group) or []):
        try:
            found = finding_from_dict(data)
        except (TypeError, AttributeError) as exc:  # a missing field, or not an object
            raise FingerprintError(
                f"{group}[{i}] of the report is not a finding ({exc}); record the file again "
                "with `torchwarden doctor --json PATH`."
            ) from None
        if not isinstance(found, expected):  # another kind in the list: its fields differ
            raise FingerprintError(
                f"{group}[{i}] of the report has kind {data.get('kind')!r}, not "
                f"{expected.KINDS[0]!r}; record the file again with `torchwarden doctor --json PATH`."
            )
        out.append(found if "severity" in data else found.replace(severity=severity(level(found))))
    return out


def exit_code(report: dict[str, Any], *, strict: bool = False) -> int:
    """0 ok, 1 warnings (only when ``strict``), 2 failures."""
    counts = summary(findings(report, "rules") + findings(report, "probes"))
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
