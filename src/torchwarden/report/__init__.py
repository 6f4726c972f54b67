"""Run records (``run.json``) and the offline HTML report. See README.md beside this file.

Nothing here imports torch, so a report can be rendered on any machine from a record.
"""

from torchwarden.errors import ReportError as ReportError
from torchwarden.report.html import render_report as render_report
from torchwarden.report.html import write_report as write_report
from torchwarden.report.run_record import RankRecord as RankRecord
from torchwarden.report.run_record import RunRecord as RunRecord
from torchwarden.report.run_record import RunStatus as RunStatus
from torchwarden.report.run_record import StepRecord as StepRecord
from torchwarden.report.schema import RUN_SCHEMA as RUN_SCHEMA
from torchwarden.report.schema import STATUSES as STATUSES
from torchwarden.report.schema import load_run_record as load_run_record
from torchwarden.report.schema import validate_run_record as validate_run_record
from torchwarden.units import format_bytes as format_bytes
from torchwarden.units import format_seconds as format_seconds

__all__ = [
    "RUN_SCHEMA",
    "STATUSES",
    "RankRecord",
    "ReportError",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "format_bytes",
    "format_seconds",
    "load_run_record",
    "render_report",
    "validate_run_record",
    "write_report",
]
