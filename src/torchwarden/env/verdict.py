"""What a rule says about one subject, and the version parsing every rule leans on."""

from __future__ import annotations

from dataclasses import dataclass

from torchwarden.findings import Severity

__all__ = ["LEVELS", "Verdict", "severity", "version_tuple"]

# verdicts of rules and statuses of probes, worst last
LEVELS = ("skip", "ok", "warn", "fail")
_SEVERITY: dict[str, Severity] = {"fail": "error", "warn": "warning", "ok": "info", "skip": "info"}


def severity(level: str) -> Severity:
    """A rule's verdict or a probe's status as a finding's severity (unknown: ``warning``)."""
    return _SEVERITY.get(level, "warning")


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "ok" | "warn" | "fail" | "skip"
    message: str
    fix: str = ""
    subject: str = ""


def version_tuple(text: str | None) -> tuple[int, ...]:
    """Parse a version: "550.54.14" -> (550, 54, 14); "2.13.0+cpu" -> (2, 13, 0); junk parts end the tuple."""
    parts: list[int] = []
    for piece in (text or "").split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits or digits != piece.strip():
            if digits and piece.startswith(digits):
                parts.append(int(digits))
            break
        parts.append(int(digits))
    return tuple(parts)
