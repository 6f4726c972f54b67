"""Findings: one typed object for everything governance reports.

A finding says what happened (``message``) and what to change (``fix``). Every
subsystem reports through a subclass of :class:`Finding` (a leak, an out-of-memory
error, a failed run, a transfer problem, an environment rule or probe, a checkpoint
that did not verify), and every JSON the project writes stores findings through
:meth:`Finding.to_dict`, so tools read one shape everywhere:

    Finding                 kind, message, fix, severity, step, rank
    ├── LeakFinding         holder, site, library_site, nbytes, device, graph, trend
    ├── CacheFinding        a set that filled and stopped growing (informational)
    ├── OOMFinding          requested, free, cached, largest block, verdict, top tensors
    ├── ExceptionFinding    the exception that ended a run, with the user's line
    ├── TransferFinding     a recurring copy or sync at one site (torchwarden.data)
    ├── RuleFinding         an environment rule's verdict (torchwarden doctor)
    ├── ProbeFinding        a behavioural probe's result (torchwarden doctor)
    └── CheckpointFinding   a checkpoint skipped on resume, and why

This module is a leaf: it imports nothing from torchwarden but :mod:`units`.
Repeated sightings are data (``seen_at_steps``), rendered into messages by the
owner of the message; they are never parsed back out of text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

__all__ = [
    "CacheFinding",
    "CheckpointFinding",
    "ExceptionFinding",
    "Finding",
    "LeakFinding",
    "OOMFinding",
    "ProbeFinding",
    "RuleFinding",
    "Severity",
    "TopTensor",
    "TransferFinding",
    "finding_from_dict",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
F = TypeVar("F", bound="Finding")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What governance found: ``kind``, ``message`` (what happened), ``fix`` (what to change).

    ``step`` and ``rank`` say where it was found, when that is known. Subclasses add
    the fields of their kind; :meth:`to_dict` gives the JSON form and
    :func:`finding_from_dict` reads it back into the right subclass.
    """

    KINDS: ClassVar[tuple[str, ...]] = ()
    kind: str = "note"
    message: str
    fix: str = ""
    severity: Severity = "warning"
    step: int | None = None
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form: every field, nested findings and tuples as lists."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self: F, **changes: Any) -> F:
        """A copy with ``changes`` (findings are immutable)."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" + (f"\n  fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True, kw_only=True)
class LeakFinding(Finding):
    """Tensors held past the step that made them, by one holder, growing.

    ``holder`` is a readable referrer path (``global history[3]``) and ``holder_kind``
    what holds it (``global``, ``local``, ``closure``, ``state``, ...); ``site`` the
    user's ``path/to/file.py:LINE`` that created the tensor, ``library_site`` the
    library frame that did the allocating when it was not the user's own line.
    ``nbytes`` is what dropping the holder would free (views counted once) and
    ``graph_bytes`` what its autograd graph pins. The trend fields count how the
    group grew: ``count`` tensors, ``growth_per_step`` bytes a step, first seen at
    ``first_step``, examined again at ``seen_at_steps``.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("leak",)
    kind: str = "leak"
    holder: str
    holder_kind: str = ""
    site: str | None = None
    library_site: str | None = None
    storage_site: str | None = None  # a view or alias (detach, numpy): where its storage was made
    nbytes: int = 0
    device: str = "cpu"
    shape: tuple[int, ...] = ()
    dtype: str = ""
    retains_graph: bool = False
    graph_bytes: int | None = None
    graph_nodes: int = 0
    count: int = 1
    growth_per_step: float | None = None
    first_step: int | None = None
    seen_at_steps: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CacheFinding(Finding):
    """A set of tensors that filled and then stopped growing: steady state, not a leak."""

    KINDS: ClassVar[tuple[str, ...]] = ("cache",)
    kind: str = "cache"
    severity: Severity = "info"
    holder: str
    site: str | None = None
    count: int = 0
    nbytes: int = 0
    filled_by_step: int | None = None


@dataclass(frozen=True, kw_only=True)
class TopTensor:
    """One of the largest live tensors at an out-of-memory error."""

    holder: str
    site: str | None
    nbytes: int
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True, kw_only=True)
class OOMFinding(Finding):
    """A CUDA out-of-memory error, examined before it propagated."""

    KINDS: ClassVar[tuple[str, ...]] = ("oom",)
    kind: str = "oom"
    severity: Severity = "error"
    device: str | None = None
    requested_bytes: int | None = None
    free_bytes: int | None = None
    limit_bytes: int | None = None
    memory_fraction: float | None = None
    reserved_bytes: int | None = None
    allocated_bytes: int | None = None
    reserved_unallocated_bytes: int | None = None
    largest_free_block_bytes: int | None = None
    expandable_segments: bool | None = None
    verdict: str = ""
    snapshot: str | None = None
    top_tensors: tuple[TopTensor, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ExceptionFinding(Finding):
    """The exception that ended a run: its type, its message and the user's line."""

    KINDS: ClassVar[tuple[str, ...]] = ("exception",)
    kind: str = "exception"
    severity: Severity = "error"
    exc_type: str
    site: str | None = None
    library_site: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransferFinding(Finding):
    """A copy or sync that recurs at one code site (``sync`` or ``hidden-sync``)."""

    KINDS: ClassVar[tuple[str, ...]] = ("sync", "hidden-sync", "transfer")
    kind: str = "sync"
    site: str
    count: int = 1


@dataclass(frozen=True, kw_only=True)
class RuleFinding(Finding):
    """One verdict of an environment rule: ``ok``, ``warn``, ``fail`` or ``skip``."""

    KINDS: ClassVar[tuple[str, ...]] = ("rule",)
    kind: str = "rule"
    rule: str
    title: str
    verdict: str
    subject: str | None = None
    symptom: str = ""


@dataclass(frozen=True, kw_only=True)
class ProbeFinding(Finding):
    """One behavioural probe's result: ``ok``, ``warn``, ``fail`` or ``skip``."""

    KINDS: ClassVar[tuple[str, ...]] = ("probe",)
    kind: str = "probe"
    probe: str
    title: str
    status: str
    duration_s: float = 0.0
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckpointFinding(Finding):
    """A checkpoint that was skipped (corrupt, incomplete, unreadable) or a save that failed."""

    KINDS: ClassVar[tuple[str, ...]] = ("checkpoint",)
    kind: str = "checkpoint"
    path: str
    checkpoint_step: int | None = None


_CLASSES: tuple[type[Finding], ...] = (
    LeakFinding,
    CacheFinding,
    OOMFinding,
    ExceptionFinding,
    TransferFinding,
    RuleFinding,
    ProbeFinding,
    CheckpointFinding,
)
_BY_KIND: dict[str, type[Finding]] = {k: cls for cls in _CLASSES for k in cls.KINDS}


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """Read a finding written by :meth:`Finding.to_dict` back into its class.

    Unknown kinds (written by a newer torchwarden) become a plain :class:`Finding`;
    unknown fields are dropped, so an older reader never fails on a newer record.
    Types are not checked here: validate records from untrusted files first.
    """
    cls = _BY_KIND.get(str(data.get("kind")), Finding)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is OOMFinding and "top_tensors" in kwargs:
        kwargs["top_tensors"] = tuple(
            TopTensor(**{k: _tupled(k, v) for k, v in t.items() if k in _TOP_FIELDS})
            for t in kwargs["top_tensors"]
        )
    return cls(**{k: _tupled(k, v) for k, v in kwargs.items()})


def _tupled(name: str, value: Any) -> Any:
    return tuple(value) if name in _TUPLE_FIELDS and isinstance(value, list) else value


_TOP_FIELDS = {f.name for f in dataclasses.fields(TopTensor)}
_TUPLE_FIELDS = {"shape", "seen_at_steps"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (Finding, TopTensor)):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
