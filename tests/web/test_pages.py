"""The three pages in a real Chromium against a real `torchwarden serve`, with real runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.web.conftest import Server
from tests.web.runs import StreamedRun, leak_finding
from torchwarden.runtime.lease import acquire, parse_gpu_request

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _no_injected_markup(page: Any) -> None:
    assert page.locator("main img, main script, main iframe").count() == 0
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_runs_page_lists_runs_and_updates_live(server: Server, page: Any, tmp_path: Path) -> None:
    done = StreamedRun(tmp_path / "a", server.index, name="finished")
    done.train(5)
    done.end("ok", 0)
    page.goto(f"{server.base}/runs")
    row = page.locator('table[data-table="runs"] tr', has_text="finished")
    assert row.locator("td").nth(2).inner_text() == "ok"
    assert row.locator("td").nth(3).inner_text() == "5"
    live = StreamedRun(tmp_path / "b", server.index, name="arriving")
    live.train(3)
    page.wait_for_selector('table[data-table="runs"] td:has-text("arriving")', timeout=15_000)
    live.train(4)
    arriving = page.locator('table[data-table="runs"] tr', has_text="arriving")
    arriving.locator("td").nth(3).filter(has_text="7").wait_for(timeout=15_000)
    page.goto(f"{server.base}/runs?status=ok")
    assert page.locator('table[data-table="runs"] tbody tr').count() == 1
    live.end()


def test_run_page_timelines_findings_and_status_live(
    server: Server, page: Any, tmp_path: Path, real_run_dir: Path
) -> None:
    run = StreamedRun(tmp_path / "run", server.index, name="live-run")
    for name in ("run.json", "report.html"):
        shutil.copy(real_run_dir / name, run.out_dir / name)
    run.train(10)
    page.goto(f"{server.base}/runs/{run.handle.id}")
    page.locator("body[data-points='10']").wait_for(state="attached", timeout=15_000)
    assert page.locator(".chart canvas").count() == 2  # both uPlot timelines drew
    run.train(15)
    page.locator("body[data-points='25']").wait_for(state="attached", timeout=15_000)
    finding = leak_finding(real_run_dir)
    run.finding(finding)
    findings = page.locator('table[data-table="findings"]')
    findings.locator("td", has_text=f"holder: {finding['holder']}").wait_for(timeout=15_000)
    assert "leak" in findings.inner_text()
    restart = {"type": "attempt", "attempt": 2, "event": "start", "rank": None,
               "how": "restarted: rank 1 exited with 1", "step": None, "resumed_from": 20}  # fmt: skip
    run.append(restart)
    attempts = page.locator('table[data-table="attempts"]')
    attempts.locator("td", has_text="restarted: rank 1 exited with 1").wait_for(timeout=15_000)
    assert "20" in attempts.inner_text()
    run.end("ok", 0)
    page.locator('[data-field="status"]', has_text="ok").wait_for(timeout=15_000)
    env = page.locator('table[data-table="environment"]').inner_text()
    assert "torch" in env and "python" in env
    page.click("text=report.html")
    page.wait_for_load_state()
    assert "report" in page.content().lower() and page.url.endswith("/report.html")
    assert page.console_errors == [], page.console_errors


def test_machine_page_shows_lease_holders_and_queue(
    server: Server, page: Any, tmp_path: Path
) -> None:
    command = f"python train.py {XSS}"
    lease = acquire(
        parse_gpu_request("1"), available=[0], lease_dir=server.lease_dir, command=command
    )
    try:
        StreamedRun(tmp_path / "q", server.index, name="queued", status="waiting")
        holder = StreamedRun(tmp_path / "h", server.index, name="holder", gpus=(0,))
        page.goto(f"{server.base}/")
        gpus = page.locator('table[data-table="gpus"]')
        assert gpus.locator("a").get_attribute("href") == f"/runs/{holder.handle.id}"
        assert f"python train.py {XSS}" in gpus.inner_text()  # shown as text, not run
        assert f"(pid {lease.holder.pid})" in gpus.inner_text()
        assert "queued" in page.locator('table[data-table="queue"]').inner_text()
        page.locator("body[data-updates]").wait_for(state="attached", timeout=15_000)
        _no_injected_markup(page)
    finally:
        lease.release()


def test_user_strings_are_text_everywhere(server: Server, page: Any, tmp_path: Path) -> None:
    run = StreamedRun(tmp_path / "x", server.index, name=f"evil{XSS}")
    run.train(2)
    run.finding({"kind": "exception", "message": f"ValueError: {XSS}", "fix": XSS, "step": 2})
    run.finding({"kind": "leak", "message": "grows", "fix": "", "holder": f"global {XSS}",
                 "site": f"{XSS}.py:1", "nbytes": 64})  # fmt: skip
    for url in (f"{server.base}/runs", f"{server.base}/runs/{run.handle.id}"):
        page.goto(url)
        page.locator("body[data-updates]").wait_for(state="attached", timeout=15_000)
        assert f"evil{XSS}" in page.locator("main").inner_text()
        _no_injected_markup(page)
    findings = page.locator('table[data-table="findings"]').inner_text()
    assert f"ValueError: {XSS}" in findings and f"holder: global {XSS}" in findings
