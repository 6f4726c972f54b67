"""The run index: rows written per user, read merged; dead runs shown as lost; kills lose nothing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.users import NOBODY, ROOT, as_nobody, shared_directory
from torchwarden.errors import RunIndexError
from torchwarden.runtime.index import (
    RunFilter,
    RunInfo,
    get_run,
    list_runs,
    list_users,
    register,
)


def _info(tmp_path: Path, name: str = "train", **kw: object) -> RunInfo:
    return RunInfo(name=name, command=f"python {name}.py", out_dir=tmp_path / name, **kw)  # type: ignore[arg-type]


def test_held_back_updates_are_written_when_their_interval_ends(tmp_path: Path) -> None:
    index = tmp_path / "index"
    handle = register(_info(tmp_path), index_dir=index, min_interval_s=0.3)
    handle.update(step=5)  # within the interval of registering: held back; no update follows
    deadline, row = time.monotonic() + 30, None
    while time.monotonic() < deadline and (row is None or row.step != 5):
        row = get_run(handle.id, index_dir=index)
        time.sleep(0.02)
    assert row is not None and row.step == 5, "a held-back update was never written"
    handle.finish("ok", 0)


def test_a_database_an_earlier_version_wrote_is_read_and_upgraded(tmp_path: Path) -> None:
    index = tmp_path / "index"
    register(_info(tmp_path), index_dir=index).finish("ok", 0)
    path = index / str(os.getuid()) / "runs.sqlite"
    with sqlite3.connect(path) as conn:  # as the first release made it: no `asked` column
        conn.execute("ALTER TABLE runs DROP COLUMN asked")
    (old,) = list_runs(index_dir=index)
    assert (old.status, old.asked) == ("ok", None)
    handle = register(_info(tmp_path, status="waiting", asked="1"), index_dir=index)
    assert [r.asked for r in list_runs(index_dir=index)] == ["1", None]
    handle.finish("gave-up", 2)
    assert list_runs(RunFilter(status="gave-up"), index_dir=index)[0].exit_code == 2


def test_register_update_finish_roundtrip(tmp_path: Path) -> None:
    index = tmp_path / "index"
    handle = register(_info(tmp_path, gpus=(0, 2)), index_dir=index, min_interval_s=0)
    handle.update(step=7, step_time_s=0.25, peak_bytes=2**30, findings=2, last_step_at=time.time())
    row = get_run(handle.id, index_dir=index)
    assert row is not None
    assert (row.status, row.step, row.step_time_s, row.peak_bytes, row.findings) == (
        "running", 7, 0.25, 2**30, 2,
    )  # fmt: skip
    assert row.gpus == (0, 2) and row.pid == os.getpid() and row.out_dir == tmp_path / "train"
    handle.finish("failed", 3)
    handle.finish("ok", 0)  # a second finish does nothing
    row = get_run(handle.id, index_dir=index)
    assert row is not None and (row.status, row.exit_code) == ("failed", 3)
    assert row.ended_at is not None


def test_a_waiting_run_gets_its_gpus_when_it_starts(tmp_path: Path) -> None:
    index = tmp_path / "index"
    handle = register(_info(tmp_path, status="waiting", asked="2"), index_dir=index)
    queued = get_run(handle.id, index_dir=index)
    assert queued is not None and (queued.gpus, queued.asked) == ((), "2")
    handle.start((1, 3))  # written at once, whatever the interval
    row = get_run(handle.id, index_dir=index)
    assert row is not None and (row.status, row.gpus, row.asked) == ("running", (1, 3), "2")
    assert row.started_at >= queued.started_at
    assert list_users(index_dir=index) == [row.user]
    handle.finish("ok", 0)


def test_the_row_follows_the_event_stream(tmp_path: Path) -> None:
    index = tmp_path / "index"
    handle = register(_info(tmp_path), index_dir=index, min_interval_s=0)
    for step, peak in ((1, 300), (2, 900), (3, 500)):
        memory = {"cpu": {"rss": 10**9}, "cuda:0": {"allocated": 1, "peak_allocated": peak}}
        handle.observe(
            {"type": "step", "step": step, "rank": 0, "t": step, "time_s": 0.5, "memory": memory}
        )
    handle.observe({"type": "finding", "kind": "leak", "message": "m", "fix": "f"})
    row = get_run(handle.id, index_dir=index)
    assert row is not None and (row.step, row.step_time_s, row.peak_bytes, row.findings) == (
        3,
        0.5,
        900,
        1,
    )
    handle.observe({"type": "status", "status": "oom", "exit_code": 1})
    row = get_run(handle.id, index_dir=index)
    assert row is not None and (row.status, row.exit_code) == ("oom", 1)


def test_a_missing_lease_directory_is_created_shared(tmp_path: Path) -> None:
    leases = tmp_path / "leases"
    handle = register(_info(tmp_path), index_dir=leases / "index")
    handle.finish("ok", 0)
    assert stat.S_IMODE(leases.stat().st_mode) == 0o1777  # other users' lease files fit too
    assert stat.S_IMODE((leases / "index").stat().st_mode) == 0o1777
    assert stat.S_IMODE((leases / "index" / str(os.getuid())).stat().st_mode) == 0o755


def test_updates_are_throttled_until_flush(tmp_path: Path) -> None:
    index = tmp_path / "index"
    handle = register(_info(tmp_path), index_dir=index, min_interval_s=3600)
    handle.update(step=5)
    assert list_runs(index_dir=index)[0].step is None  # not yet written: a step stays cheap
    handle.flush()
    assert list_runs(index_dir=index)[0].step == 5


def test_filters_and_order(tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = register(_info(tmp_path, "a"), index_dir=index)
    register(_info(tmp_path, "b", status="waiting"), index_dir=index)
    first.finish("ok", 0)
    assert [r.name for r in list_runs(index_dir=index)] == ["b", "a"]  # newest first
    assert [r.name for r in list_runs(RunFilter(status="waiting"), index_dir=index)] == ["b"]
    assert list_runs(RunFilter(user="nobody-here"), index_dir=index) == []
    assert [r.name for r in list_runs(RunFilter(limit=1), index_dir=index)] == ["b"]
    assert list_runs(RunFilter(status="lost"), index_dir=index) == []  # both alive (this process)


def test_bad_input_is_refused_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(RunIndexError, match="registers as one of"):
        _info(tmp_path, status="ok")
    handle = register(_info(tmp_path), index_dir=tmp_path / "index")
    with pytest.raises(RunIndexError, match="Cannot update \\['pid'\\]"):
        handle.update(pid=1)
    with pytest.raises(RunIndexError, match="use one of"):
        handle.finish("great", 0)


def test_killed_run_is_lost_and_reused_pid_is_not_alive(tmp_path: Path) -> None:
    index = tmp_path / "index"
    code = (
        "import sys, time; from pathlib import Path\n"
        "from torchwarden.runtime.index import RunInfo, register\n"
        f"h = register(RunInfo('victim', 'x', Path('out')), index_dir=Path({str(index)!r}))\n"
        "print(h.id, flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert get_run(run_id, index_dir=index).status == "running"  # type: ignore[union-attr]
        child.kill()
    assert get_run(run_id, index_dir=index).status == "lost"  # type: ignore[union-attr]
    # this process is alive, but a row recording another start time is not this process
    handle = register(_info(tmp_path), index_dir=index)
    db = index / str(os.getuid()) / "runs.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET pid_start = pid_start - 1000 WHERE name = 'train'")
    assert get_run(handle.id, index_dir=index).status == "lost"  # type: ignore[union-attr]


WRITER = """
import os, sys, time
from pathlib import Path
from torchwarden.runtime.index import RunInfo, register
h = register(RunInfo(f"w{sys.argv[2]}", "x", Path("out")), index_dir=Path(sys.argv[1]),
             min_interval_s=0)
print(h.id, flush=True)
for step in range(1, 301):
    h.update(step=step, step_time_s=0.001 * step, last_step_at=time.time())
    time.sleep(0.01)  # a step's work: long enough for the kills to land mid-run
h.finish("ok", 0)
print("done", flush=True)
"""


def test_twenty_concurrent_writers_with_sigkills(tmp_path: Path) -> None:
    index = tmp_path / "index"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(index), str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(20)
    ]  # fmt: skip
    ids = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
    rng = random.Random(0)
    victims = rng.sample(range(20), 10)
    for i in victims:
        time.sleep(rng.uniform(0, 0.2))
        procs[i].send_signal(signal.SIGKILL)
    outputs = [p.communicate(timeout=120)[0] for p in procs]  # also closes their pipes
    db = index / str(os.getuid()) / "runs.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = {r.id: r for r in list_runs(index_dir=index)}
    assert sorted(rows) == sorted(ids)  # every registered run has its row, none more
    for i, run_id in enumerate(ids):
        row = rows[run_id]
        assert row.name == f"w{i}" and row.step is not None and 1 <= row.step <= 300
        if "done" in outputs[i] or row.status == "ok":  # a kill may land after finish()
            assert (row.status, row.exit_code, row.step) == ("ok", 0, 300)
        else:
            assert i in victims and row.status == "lost" and row.exit_code is None
    assert any(r.status == "lost" for r in rows.values()), "no kill landed mid-run"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    with shared_directory() as path:
        yield path


@pytest.mark.skipif(not ROOT, reason="needs root to act as a second user (setuid)")
def test_users_merge_and_cannot_edit_each_other(shared_dir: Path) -> None:
    tmp_path, index = shared_dir, shared_dir / "index"
    mine = register(_info(tmp_path), index_dir=index)
    theirs = as_nobody(
        "h = register(RunInfo('theirs', 'x', Path('/tmp/out')), index_dir=Path(sys.argv[1]))\n"
        "h.finish('ok', 0); print(h.id)\n",
        str(index),
    )
    assert theirs.returncode == 0, theirs.stderr
    users = {r.name: (r.uid, r.user) for r in list_runs(index_dir=index)}
    assert users == {"train": (0, "root"), "theirs": (NOBODY, "nobody")}  # names by owner uid
    tamper = as_nobody(
        "import sqlite3, sys\n"
        f"c = sqlite3.connect(sys.argv[1] + '/{os.getuid()}/runs.sqlite')\n"
        "c.execute(\"UPDATE runs SET status = 'ok'\"); c.commit()\n",
        str(index),
    )
    assert tamper.returncode != 0 and "readonly" in tamper.stderr
    assert get_run(mine.id, index_dir=index).status == "running"  # type: ignore[union-attr]


@pytest.mark.skipif(not ROOT, reason="needs root to make files owned by another user")
def test_planted_directories_and_links_are_not_read(tmp_path: Path) -> None:
    index = tmp_path / "index"
    register(_info(tmp_path), index_dir=index)
    planted = index / str(NOBODY)  # named for nobody, owned by root: not nobody's rows
    planted.mkdir()
    (planted / "runs.sqlite").symlink_to(index / "0" / "runs.sqlite")
    os.symlink(index / "0", index / "1234")
    assert [r.uid for r in list_runs(index_dir=index)] == [0]
    squatted = tmp_path / "squat"
    (squatted / str(os.getuid())).mkdir(parents=True)
    os.chown(squatted / str(os.getuid()), NOBODY, NOBODY)
    with pytest.raises(RunIndexError, match="someone else made it"):
        register(_info(tmp_path), index_dir=squatted)
