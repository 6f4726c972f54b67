"""The HTML report: well-formed, self-contained, escaped, and drawn with inline SVG."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from torchwarden.errors import ReportError
from torchwarden.findings import LeakFinding
from torchwarden.report import render_report, write_report

Record = dict[str, Any]
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "wbr"}
# SVG shapes may close themselves (<line/>); the parser reports those as startendtag.


class Structure(HTMLParser):
    """Checks that every element is closed in order, and counts tags."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"unclosed: {parser.stack}"
    return parser


def test_report_is_well_formed_and_complete(make: Callable[..., Record]) -> None:
    record = make(steps=3000, ranks=2)  # more points than pixels: thinned, not dropped
    page = render_report(record)
    tags = parse(page).counts
    # per rank: one CUDA chart of 3 lines and a CPU chart per counter (RSS, tensor bytes),
    # each on its own axis; plus one step-time line per rank
    assert tags["polyline"] == 2 * (3 + 2) + 2
    assert tags["svg"] == 2 * 3 + 1
    for text in ("global history[3]", "train.py:41", "41.3 MiB", "1.2 GiB", "Fragmentation"):
        assert text in page
    assert "IEC units" in page and "$ python train.py --lr 0.1" in page
    assert '<span class="badge status-ok">ok</span>' in page
    assert "<h2>Ranks</h2>" in page
    assert len(page) < 1_000_000


def test_report_fetches_nothing(record: Record) -> None:
    page = render_report(record)
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"<(script|link|iframe|img|object|embed)\b", page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page


def test_hostile_text_is_escaped(record: Record) -> None:
    record["name"] = "<script>alert(1)</script>"
    record["command"] = ["python", "-c", "</pre><script>alert(2)</script>"]
    record["findings"].append(
        {
            "kind": "<b>odd</b>",
            "message": "<script>alert('x')</script> & more",
            "fix": '<img src=x onerror="alert(1)">',
        }
    )
    record["environment"]["hostname"] = "<iframe>"
    page = render_report(record)
    parse(page)
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_empty_run_is_explained(make: Callable[..., Record]) -> None:
    record = make(steps=0, ranks=1, findings=False)
    record["status"], record["exit_code"] = "interrupted", None
    record["summary"] |= {"steps": 0, "median_step_s": None, "peak_memory": {}}
    record["environment"]["gpus"] = []
    page = render_report(record)
    parse(page)
    assert "No steps were recorded" in page and "No findings" in page
    assert "<svg" not in page and "<h2>Ranks</h2>" not in page


def test_one_step_draws_points(make: Callable[..., Record]) -> None:
    page = render_report(make(steps=1, ranks=1, findings=False))
    # a dot per series: 3 CUDA counters, the RSS (no tensor count at step 1), one step time
    assert parse(page).counts.get("circle") == 5


def test_write_report_into_a_directory(record: Record, tmp_path: Path) -> None:
    path = write_report(record, tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


def test_write_report_validates_first(record: Record, tmp_path: Path) -> None:
    record["status"] = "weird"
    with pytest.raises(ReportError, match="status must be one of"):
        write_report(record, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_report_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, json; from torchwarden.report import render_report, validate_run_record; "
        "import torchwarden.runtime.lease; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_new_kind_of_finding_shows_its_own_fields(record: Record) -> None:
    """Findings are read generically: a kind the report has never seen still shows its fields."""
    record["findings"] = [
        {
            "kind": "hidden-sync",
            "message": "x.item() synchronises every step",
            "fix": "Keep the sum on the device.",
            "site": "train.py:12",
            "count": 40,
            "copied_bytes": 3 << 20,
            "seen_at_steps": [2, 3, 4],
        }
    ]
    page = render_report(record)
    parse(page)
    assert '<span class="kind kind-hidden-sync">hidden-sync</span>' in page
    for text in (
        "<code>train.py:12</code>",
        "<dt>count</dt><dd>40</dd>",
        "<dt>copied</dt><dd>3.0 MiB</dd>",
    ):
        assert text in page
    assert "<dt>seen at steps</dt><dd>2, 3, 4</dd>" in page


def test_a_leak_s_growth_is_shown_in_bytes_a_step(record: Record) -> None:
    leak = LeakFinding(message="global history keeps growing", fix="Drop it.",
                       holder="global history", growth_per_step=52381.9, nbytes=112 << 20)  # fmt: skip
    record["findings"] = [leak.to_dict()]
    page = render_report(record)
    assert "<dt>growth per step</dt><dd>+51.2 KiB a step</dd>" in page, page
    assert "<dt>size</dt><dd>112 MiB</dd>" in page


def test_no_findings_is_an_all_clear_only_when_the_run_saw_enough(record: Record) -> None:
    record["findings"] = []
    record["status"] = "ok"
    assert "No findings: nothing leaked or failed." in render_report(record)
    record["summary"]["evidence_note"] = "leak check off (--no-leak-check)"
    page = render_report(record)
    assert "No findings; leak check off (--no-leak-check)." in page
    assert "nothing leaked" not in page
    record["status"], record["exit_code"] = "failed", 3  # the failure is said first
    page = render_report(record)
    assert "the run ended failed (exit code 3)" in page and "(leak check off" in page


def test_start_up_step_is_off_the_scale_and_named(make: Callable[..., Record]) -> None:
    record = make(steps=40, ranks=1, findings=False)
    for s in record["steps"]:
        s["time_s"] = 30.0 if s["step"] == 1 else 0.010 + (s["step"] % 3) * 0.001
    page = render_report(record)
    assert "step 1 (start-up) took 30" in page
    assert ">12 ms<" in page or ">12.5 ms<" in page  # the axis is the steady state's, not 30 s


def test_cpu_counters_each_get_an_axis_that_shows_their_change(
    make: Callable[..., Record],
) -> None:
    record = make(steps=40, ranks=1, findings=False)
    for s in record["steps"]:  # 10 MiB of growth on a 4 GiB process
        s["memory"]["cpu"] = {"rss": 4 * 2**30 + s["step"] * 256 * 2**10, "tensor_bytes": None}
    page = render_report(record)
    assert ">0 MiB<" not in page and ">0 GiB<" not in page  # not squashed against zero
    assert "cpu: process RSS" in page


def test_restarts_are_marked_on_the_step_timeline(make: Callable[..., Record]) -> None:
    record = make(steps=20, ranks=2, findings=False)
    attempt = {"attempt": 0, "ranks": 2, "failed_rank": 1, "how": "<b>killed</b>", "step": 7,
               "resumed_from": 0}  # fmt: skip
    last = {**attempt, "attempt": 1, "failed_rank": None, "how": None, "step": None}
    record["attempts"] = [attempt, last]
    page = render_report(record)
    parse(page)
    assert page.count("restart · attempt") == 1
    assert "restart · attempt 0: rank 1 &lt;b&gt;killed&lt;/b&gt;" in page  # text, not markup
