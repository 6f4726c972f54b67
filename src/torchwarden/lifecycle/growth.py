"""A leak is a set that keeps growing: the rule ``torchwarden run`` confirms leaks by.

One examination cannot tell a leak from steady state: the current batch, a carried
hidden state, a framework's logged metrics and a filled cache are all "made recently,
still held". So each examination's candidates are grouped by holder container (indices
and keys collapsed: ``global hist[…]``) and creation site, and a group is compared
with itself across separated examinations:

* its *size* is the number of entries of the containers that hold it (``extent``), or
  the number of its members still held when no container counts them;
* it *grew* between two examinations when its size rose and it still holds a member
  seen at the earlier one (a rebound name or an overwritten slot holds none), or when
  the autograd graph its members keep alive grew (``total = total + loss`` rebinds
  one name, yet each new tensor keeps the graph of all the earlier ones);
* it is a leak once it grew in two intervals in a row; a group that then stops growing
  for two intervals, or that grew once and stopped, is a filled cache
  (:class:`~torchwarden.findings.CacheFinding`), not a leak.

Members of every group are carried into the next examination (a few per group: the
oldest and the newest), so a set that grows every Nth step is seen even when no new
member was made during an examination.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

import torch

from torchwarden.findings import CacheFinding, LeakFinding
from torchwarden.lifecycle.arrays import ARRAY_NOTE
from torchwarden.lifecycle.leaks import leak_fix, leak_message
from torchwarden.lifecycle.report import ScopeReport
from torchwarden.units import format_bytes

__all__ = ["GrowthTracker", "group_of"]

CONFIRM = 2  # intervals of growth in a row that make a leak
SETTLE = 2  # intervals without growth that make a filled cache
CARRY = 3  # members carried per group from each end (oldest, newest)
GRAPH_GROWTH = 1.05  # a graph this much larger (and by 1 KiB) grew; allocator noise is not growth
_SUBSCRIPT = re.compile(r"\[[^\]]*\]|\{…\}")


def group_of(holder: str) -> str:
    """The container of a holder path: ``global hist[3]['x']`` -> ``global hist[…][…]``."""
    return _SUBSCRIPT.sub("[…]", holder)


def _container(key: str) -> str:
    """A group's container as the user names it: ``global hoard[…]`` -> ``global hoard``.

    A note on how the entries hold their tensors stays: ``global arrs (numpy array …)``.
    """
    path, sep, note = key.partition(f" ({ARRAY_NOTE})")
    return path.removesuffix("[…]") + sep + note


@dataclass
class _Group:
    first_step: int
    example: LeakFinding  # the latest member with a known creation site, if any
    sizes: list[tuple[int, int, int]] = field(default_factory=list)  # (step, size, bytes)
    graph: int = 0  # autograd graph bytes its members kept at the latest sighting
    members: list[weakref.ref[torch.Tensor]] = field(default_factory=list)
    growths: int = 0
    still: int = 0
    confirmed: bool = False
    settled: bool = False


class GrowthTracker:
    """Feeds on each examination's report; holds the confirmed leaks and filled caches."""

    def __init__(self, rank: int = 0) -> None:
        self.rank = rank
        self._groups: dict[str, _Group] = {}
        self._sites: dict[int, tuple[weakref.ref[torch.Tensor], str | None]] = {}

    def carried(self) -> list[torch.Tensor]:
        """Members of every group still alive, to examine again at the next examination."""
        out: dict[int, torch.Tensor] = {}
        for group in self._groups.values():
            out.update((id(t), t) for t in (ref() for ref in group.members) if t is not None)
        return list(out.values())

    def site_of(self, t: torch.Tensor) -> str | None:
        """The creation site recorded for ``t`` when an examination saw it, if any."""
        entry = self._sites.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def update(self, step: int, report: ScopeReport) -> bool:
        """Group ``report``'s candidates and compare each with its last sighting.

        Returns True when a group grew but is not a leak yet: worth a look again soon.
        """
        seen: dict[str, list[tuple[torch.Tensor, LeakFinding, int]]] = {}
        for leak, (ref, extent) in zip(report.leaks, report.leaked, strict=True):
            t = ref()
            if t is not None:
                leak = leak.replace(site=self._site_of(t, leak.site))
                seen.setdefault(group_of(leak.holder), []).append((t, leak, extent))
        for key, members in seen.items():
            self._sighting(key, step, members)
        self._sites = {k: v for k, v in self._sites.items() if v[0]() is not None}
        return any(g.growths and not g.confirmed for g in self._groups.values())

    def _site_of(self, t: torch.Tensor, site: str | None) -> str | None:
        # A carried member's site was known when it was new, if it was made while an
        # examination recorded; members made between examinations have none.
        entry = self._sites.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1] or site
        if site is not None and site.startswith("<"):
            site = None
        self._sites[id(t)] = (weakref.ref(t), site)
        return site

    def _sighting(
        self, key: str, step: int, members: list[tuple[torch.Tensor, LeakFinding, int]]
    ) -> None:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(step, members[0][1])
        old = {id(t) for t in (ref() for ref in group.members) if t is not None}
        kept_old = any(id(t) in old for t, _, _ in members)
        size = max(e for _, _, e in members) or len(members)
        nbytes = sum(leak.nbytes + (leak.graph_bytes or 0) for _, leak, _ in members)
        nbytes = nbytes * size // len(members)
        graph = sum(leak.graph_bytes or 0 for _, leak, _ in members)
        more = bool(group.sizes) and kept_old and size > group.sizes[-1][1]
        grew = more or (bool(group.sizes) and graph > group.graph * GRAPH_GROWTH + 1024)
        group.graph = graph
        group.growths, group.still = (group.growths + 1, 0) if grew else (0, group.still + 1)
        group.sizes.append((step, size, nbytes))
        known = [leak for _, leak, _ in members if leak.site is not None]
        whole = [leak for leak in known if leak.storage_site]  # an alias whose storage is known
        if whole or (known and not group.example.storage_site) or group.example.site is None:
            group.example = (whole or known or [members[-1][1]])[-1]
        new = [t for t, _, _ in members if id(t) not in old]
        alive = [t for t, _, _ in members if id(t) in old]
        keep = {id(t): t for t in [*alive[:CARRY], *new[-CARRY:]]}  # oldest, newest
        group.members = [weakref.ref(t) for t in keep.values()]
        if group.growths >= CONFIRM:
            group.confirmed, group.settled = True, False
        elif group.still >= SETTLE and len(group.sizes) > group.still + 1 and not group.settled:
            group.settled = group.confirmed or any(
                b[1] > a[1] for a, b in zip(group.sizes, group.sizes[1:], strict=False)
            )
            group.confirmed = False

    @property
    def leaks(self) -> list[LeakFinding]:
        """One finding per growing group, with its count, bytes and growth per step."""
        return [self._leak(key, g) for key, g in self._groups.items() if g.confirmed]

    @property
    def caches(self) -> list[CacheFinding]:
        """Groups that grew and then stopped: filled caches (informational)."""
        return [self._cache(key, g) for key, g in self._groups.items() if g.settled]

    def _leak(self, key: str, g: _Group) -> LeakFinding:
        (s0, _, b0), (s1, size, b1) = g.sizes[0], g.sizes[-1]
        finding = g.example.replace(
            holder=_container(key),  # the container: `global hoard`
            nbytes=b1,
            count=size,
            growth_per_step=round((b1 - b0) / max(1, s1 - s0), 1),
            first_step=g.first_step,
            step=g.first_step,
            rank=self.rank,
            seen_at_steps=tuple(s for s, _, _ in g.sizes),
        )
        return finding.replace(message=leak_message(finding), fix=leak_fix(finding))

    def _cache(self, key: str, g: _Group) -> CacheFinding:
        filled = next(s for s, n, _ in g.sizes if n == max(x[1] for x in g.sizes))
        _, size, nbytes = g.sizes[-1]
        return CacheFinding(
            message=(
                f"{_container(key)} filled to {size} entries ({format_bytes(nbytes)}) by step "
                f"{filled} and stopped growing: a bounded cache, not a leak"
            ),
            fix="Nothing to change if the bound is intended.",
            holder=_container(key),
            site=g.example.site,
            count=size,
            nbytes=nbytes,
            filled_by_step=filled,
            step=filled,
            rank=self.rank,
        )
