"""``torchwarden report DIR``: (re)write a run's report, rebuilding a killed run's record."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(directory: Path) -> None:
    """Write DIRECTORY/report.html from the run's record.

    A run that was killed (SIGKILL, the OOM killer) could not write its final run.json:
    its record is rebuilt from DIRECTORY/events.jsonl, which holds every step up to the
    last second, and written as run.json (status "interrupted") before the report.
    """
    from torchwarden.report import load_run_record, write_report
    from torchwarden.runtime.record import write_json
    from torchwarden.runtime.recover import recover_dir
    from torchwarden.runtime.stream import EVENTS

    run_json = directory / "run.json"
    streamed = (directory / EVENTS).is_file() or any(directory.glob(f"rank-*/{EVENTS}"))
    final = run_json.is_file() and load_run_record(run_json)["status"] != "running"
    record = load_run_record(run_json) if final or not streamed else recover_dir(directory)
    if not final and record["status"] != "running":
        write_json(run_json, record)  # the writer is gone: the next reader sees the whole run
        click.echo(
            f"rebuilt {run_json} from {EVENTS}: {record['summary']['steps']} steps", err=True
        )
    path = write_report(record, directory / "report.html")
    click.echo(str(path))
