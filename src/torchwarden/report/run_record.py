"""The shape of ``run.json`` (schema ``torchwarden.run/1``) as typed dictionaries.

The record is JSON, so its parts are :class:`~typing.TypedDict`: the writer
(``runtime/record.py``) builds them, the validator (``schema.py``) checks a file against
the same keys, and a type checker follows a field from one to the other. Findings are
stored as :meth:`torchwarden.findings.Finding.to_dict` wrote them; read them back with
:func:`torchwarden.findings.finding_from_dict`. docs/run-schema.md documents each field.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "Artifacts",
    "AttemptRecord",
    "CpuMemory",
    "CudaMemory",
    "EnvironmentSummary",
    "GpuSummary",
    "RankRecord",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "Summary",
]

RunStatus = Literal["ok", "failed", "interrupted", "oom", "running"]


class GpuSummary(TypedDict):
    index: int
    name: str
    memory_total: int  # bytes


class EnvironmentSummary(TypedDict):
    python: str
    platform: str
    hostname: str
    torch: str | None
    cuda: str | None
    driver: str | None
    gpus: list[GpuSummary]
    cuda_visible_devices: str | None


class RankRecord(TypedDict):
    rank: int
    pid: int | None
    status: RunStatus
    exit_code: int | None
    steps: int


class _CpuMemoryRequired(TypedDict):
    rss: int  # bytes


class CpuMemory(_CpuMemoryRequired, total=False):
    tensor_bytes: int | None  # bytes; None on steps where the census did not run


class CudaMemory(TypedDict):
    allocated: int
    reserved: int
    peak_allocated: int


class _StepRequired(TypedDict):
    step: int
    rank: int
    t: float  # seconds since the run started
    time_s: float | None
    memory: dict[str, Any]  # "cpu" -> CpuMemory, "cuda:N" -> CudaMemory


class StepRecord(_StepRequired, total=False):
    transfers: dict[str, Any]  # with --audit-transfers: copies and syncs in the step


class _ArtifactsRequired(TypedDict):
    report: str | None
    snapshot: str | None


class Artifacts(_ArtifactsRequired, total=False):
    events: str | None  # events.jsonl: every step, as the run went


class _SummaryRequired(TypedDict):
    steps: int
    median_step_s: float | None
    peak_memory: dict[str, int]  # device -> bytes


class Summary(_SummaryRequired, total=False):
    step_source: str  # how steps were detected (optimizer, step(), forwards); added in /1
    examinations: int  # exact leak examinations compared (rank 0's in a multi-rank record)
    evidence_note: str  # why "no findings" would claim more than the run saw, when it would


class AttemptRecord(TypedDict):
    """One try of a run restarted by torchrun (``--max-restarts``): who ended it, and how."""

    attempt: int  # 0 for the first; torchrun's TORCHELASTIC_RESTART_COUNT
    ranks: int  # ranks that started in it
    failed_rank: int | None  # the rank whose death ended it; None if it ended on its own
    how: str | None  # "killed (no record: SIGKILL or the OOM killer)", "exit 1", "SIGTERM"
    step: int | None  # steps that rank had completed in this attempt
    resumed_from: int | None  # the training step it resumed from, when reported


class _RunRecordRequired(TypedDict):
    schema: str
    name: str
    command: list[str]
    status: RunStatus
    exit_code: int | None
    started_at: str
    ended_at: str
    duration_s: float
    environment: EnvironmentSummary
    world_size: int
    ranks: list[RankRecord]
    steps: list[StepRecord]
    findings: list[dict[str, Any]]  # Finding.to_dict() each
    artifacts: Artifacts
    summary: Summary


class RunRecord(_RunRecordRequired, total=False):
    attempts: list[AttemptRecord]  # multi-rank runs: every attempt, in order
