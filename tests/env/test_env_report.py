"""The ``torchwarden.env/1`` document holds typed findings in their JSON form, and reads them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.env.env_helpers import FIXTURES, fixture
from torchwarden.env import FingerprintError, ProbeFinding, RuleFinding, report
from torchwarden.env.doctor import judge_file

# the fields of /1 before findings were typed: a reader of those files must find them all
RULE_FIELDS = {"kind", "rule", "title", "verdict", "subject", "message", "fix", "symptom"}
PROBE_FIELDS = {"kind", "probe", "title", "status", "message", "fix", "duration_s", "error"}


def test_recorded_files_read_back_as_typed_findings() -> None:
    document = fixture("gpu-h200.json")
    probes = report.findings(document, "probes")
    assert probes and all(isinstance(p, ProbeFinding) for p in probes)
    # written before findings carried a severity: it follows the status
    assert {p.severity for p in probes if isinstance(p, ProbeFinding) and p.status == "ok"} == {
        "info"
    }
    rules = report.findings(document, "rules")
    assert rules and all(isinstance(r, RuleFinding) for r in rules)


def test_the_schema_only_gains_fields(tmp_path: Path) -> None:
    judged = judge_file(FIXTURES / "broken-shm-64m.json")
    path = tmp_path / "env.json"
    report.save(judged, path)
    written = json.loads(path.read_text())
    for rule in written["rules"]:
        assert set(rule) == RULE_FIELDS | {"severity", "step", "rank"}
    for probe in written["probes"]:
        assert set(probe) >= PROBE_FIELDS | {"severity"}
    [shm] = [r for r in written["rules"] if r["rule"] == "shm-size"]
    assert (shm["verdict"], shm["severity"]) == ("fail", "error")
    assert written["summary"] == report.summary(
        report.findings(written, "rules") + report.findings(written, "probes")
    )
    assert report.exit_code(written) == 2


@pytest.mark.parametrize("bad", [{"kind": "probe", "probe": "x"}, "not an object"])
def test_a_malformed_finding_is_a_fingerprint_error(bad: object) -> None:
    document = {"fingerprint": {}, "probes": [bad]}
    with pytest.raises(FingerprintError, match=r"probes\[0\] of the report is not a finding"):
        report.findings(document, "probes")


def test_levels_of_typed_findings() -> None:
    rule = RuleFinding(rule="r", title="t", verdict="warn", message="m")
    probe = ProbeFinding(probe="p", title="t", status="fail", message="m")
    assert (report.level(rule), report.level(probe)) == ("warn", "fail")
    assert report.summary([rule, probe]) == {"skip": 0, "ok": 0, "warn": 1, "fail": 1}
