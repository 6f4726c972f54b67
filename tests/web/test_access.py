"""Who may read what: tokens for remote binds, loopback Host names, read-only, no traversal."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import Server, start_serve, stop
from tests.web.runs import StreamedRun
from tests.web.users import ROOT, as_nobody, shared_directory


def _get(
    server: Server, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(server.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host="Host" in (headers or {}))  # the raw path
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode()
    finally:
        conn.close()


@pytest.fixture
def remote(dirs: tuple[Path, Path]) -> Server:
    running = start_serve(*dirs, "--host", "0.0.0.0")
    yield running  # type: ignore[misc]
    stop(running)


def test_remote_bind_requires_the_printed_token(remote: Server) -> None:
    token = remote.url.split("?token=")[1]
    assert len(token) >= 24
    for path in ("/", "/runs", "/metrics", "/live/runs", "/static/app.css"):
        status, _, body = _get(remote, path)
        assert status == 401 and "token is required" in body, path
    assert _get(remote, "/runs?token=wrong")[0] == 401
    assert _get(remote, "/", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert _get(remote, "/", headers={"Authorization": f"Bearer {token}"})[0] == 200
    status, headers, _ = _get(remote, f"/runs?user=x&token={token}")
    assert status == 303 and headers["location"] == "/runs?user=x"  # the token leaves the URL
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert _get(remote, "/runs", headers={"Cookie": cookie.split(";")[0]})[0] == 200


def test_token_from_the_environment(dirs: tuple[Path, Path]) -> None:
    running = start_serve(*dirs, "--host", "0.0.0.0", env={"TORCHWARDEN_TOKEN": "s3cret-token"})
    try:
        assert running.url.endswith("?token=s3cret-token")
        assert _get(running, "/")[0] == 401
        assert _get(running, "/", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
    finally:
        stop(running)


def test_loopback_refuses_other_host_names_and_writes(server: Server) -> None:
    assert _get(server, "/")[0] == 200
    assert _get(server, "/", headers={"Host": "evil.example:8765"})[0] == 400  # DNS rebinding
    assert _get(server, "/", headers={"Host": "localhost:1"})[0] == 200
    for method in ("POST", "PUT", "DELETE"):
        assert _get(server, "/runs", method=method)[0] == 405


def test_every_answer_has_a_strict_policy(server: Server) -> None:
    for path in ("/", "/runs", "/nope", "/static/live.js"):
        _, headers, _ = _get(server, path)
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


TRAVERSALS = (
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/web/app.py",
    "/static/app.css/../../app.py",
    "/runs/0-1/../../../../etc/passwd",
    "/runs/..%2f..%2f..%2fetc%2fpasswd/report.html",
    "/runs/0-1%2f..%2f..%2fetc/report.html",
    "//etc/passwd",
    "/runs/0-1/run.json",
    "/runs/0-1/events.jsonl",
)


def test_path_traversal_is_refused(server: Server, tmp_path: Path) -> None:
    run = StreamedRun(tmp_path / "r", server.index)
    run.train(1)
    (run.out_dir / "report.html").write_text("<p>the report</p>")
    status, headers, body = _get(server, f"/runs/{run.handle.id}/report.html")
    assert (
        status == 200
        and body == "<p>the report</p>"
        and "sandbox" in headers["content-security-policy"]
    )
    for path in (*TRAVERSALS, f"/runs/{run.handle.id}/../../../../etc/passwd"):
        status, _, body = _get(server, path)
        assert status == 404 and "root:" not in body and "import" not in body, path
    (run.out_dir / "report.html").unlink()
    (run.out_dir / "report.html").symlink_to("/etc/passwd")  # a link planted in a run directory
    status, _, body = _get(server, f"/runs/{run.handle.id}/report.html")
    assert status == 404 and "root:" not in body
    linked = StreamedRun(tmp_path / "real", server.index, name="linked")
    shutil.rmtree(linked.out_dir)
    (tmp_path / "real").symlink_to("/etc")  # the run directory itself is a link
    assert _get(server, f"/runs/{linked.handle.id}/report.html")[0] == 404


@pytest.mark.skipif(not ROOT, reason="needs root to register a run as a second user")
def test_another_users_row_cannot_point_at_my_files() -> None:
    with shared_directory() as shared:
        mine = shared / "mine"
        mine.mkdir()
        (mine / "report.html").write_text("private to root")
        index = shared / "index"
        index.mkdir(mode=0o1777)
        index.chmod(0o1777)  # as the first run on a machine leaves it
        code = (
            "h = register(RunInfo('bait', 'x', Path(sys.argv[2])), index_dir=Path(sys.argv[1]))\n"
            "h.finish('ok', 0); print(h.id)\n"
        )
        proc = as_nobody(code, str(index), str(mine))
        assert proc.returncode == 0, proc.stderr
        running = start_serve(index, shared / "leases")
        try:
            assert (
                _get(running, "/runs")[2].count("bait") == 1
            )  # listed, but its files are not mine
            status, _, body = _get(running, f"/runs/{proc.stdout.strip()}/report.html")
            assert status == 404 and "private" not in body
        finally:
            stop(running)


def test_a_taken_port_is_a_clear_error(dirs: tuple[Path, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = subprocess.run(
            [sys.executable, "-m", "torchwarden", "serve", "--port", port, "--index", str(dirs[0])],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2 and "Choose another --port" in proc.stderr
