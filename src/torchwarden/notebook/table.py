"""Holdings grouped by what holds them, as one compact line and as an HTML table.

A group's bytes count each storage once (two views of one tensor pin one storage)
and its graph bytes count each saved tensor once, leaving out storages already
counted as held. Both describe this process's memory, never the device's total.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from torchwarden.lifecycle.holdings import Holding
from torchwarden.units import format_bytes

__all__ = ["Group", "group_holdings", "held_bytes", "html_table", "summary_line", "text_table"]

MAX_IN_LINE = 4  # groups named in the one-line summary; the table has them all
StorageKey = tuple[str, int]


@dataclass(frozen=True)
class Group:
    """Tensors with one holder: how many, the bytes they pin, where they were made."""

    holder: str
    kind: str
    tensors: int
    nbytes: int
    graph_bytes: int
    devices: tuple[str, ...]
    created: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.nbytes + self.graph_bytes


def _bytes(holds: list[Holding]) -> tuple[int, int]:
    """Storage bytes and graph bytes, each storage counted once."""
    storages: dict[StorageKey, int] = {}
    for h in holds:
        storages[h.storage if h.storage is not None else ("?", id(h))] = h.nbytes
    graph: dict[StorageKey, int] = {}
    for h in holds:
        graph.update((k, n) for k, n in h.graph.storages if k not in storages)
    return sum(storages.values()), sum(graph.values())


def held_bytes(holds: list[Holding]) -> int:
    """What ``holds`` pin together: storages and graphs shared between holders count once."""
    return sum(_bytes(holds))


def _group(label: str, members: list[Holding], where: Callable[[Holding], str]) -> Group:
    nbytes, graph_bytes = _bytes(members)
    return Group(
        holder=label,
        kind=members[0].holder.kind,
        tensors=len(members),
        nbytes=nbytes,
        graph_bytes=graph_bytes,
        devices=tuple(sorted({h.device for h in members})),
        created=tuple(dict.fromkeys(where(h) for h in members)),
    )


def group_holdings(
    holds: list[Holding], label: Callable[[Holding], str], where: Callable[[Holding], str]
) -> list[Group]:
    """Groups by ``label``, largest first; ``where`` names each holding's creation site."""
    by_label: dict[str, list[Holding]] = {}
    for h in holds:
        by_label.setdefault(label(h), []).append(h)
    groups = [_group(name, members, where) for name, members in by_label.items()]
    return sorted(groups, key=lambda g: (-g.total, g.holder))


def _created(g: Group, limit: int = 2) -> str:
    more = f" +{len(g.created) - limit}" if len(g.created) > limit else ""
    return ", ".join(g.created[:limit]) + more


def _size(g: Group) -> str:
    graph = f" +{format_bytes(g.graph_bytes)} graph" if g.graph_bytes else ""
    return f"{format_bytes(g.nbytes)}{graph}"


def summary_line(title: str, groups: list[Group]) -> str:
    """``torchwarden: <title> — outputs 1.0 MiB (In[3]:2) · Out[4], _ 4.0 KiB (...)``."""
    parts = [f"{g.holder} {_size(g)} ({_created(g, 1)})" for g in groups[:MAX_IN_LINE]]
    if len(groups) > MAX_IN_LINE:
        parts.append(f"{len(groups) - MAX_IN_LINE} more: %tw lists them")
    return f"torchwarden: {title} — " + " · ".join(parts)


_COLUMNS = ("held by", "tensors", "bytes", "graph", "device", "created")


def _row(g: Group) -> tuple[str, ...]:
    graph = format_bytes(g.graph_bytes) if g.graph_bytes else "—"
    return (
        g.holder,
        str(g.tensors),
        format_bytes(g.nbytes),
        graph,
        ", ".join(g.devices),
        _created(g),
    )


def text_table(title: str, groups: list[Group]) -> str:
    """A plain table, one row per holder, for terminals and ``text/plain``."""
    rows = [_COLUMNS, *(_row(g) for g in groups)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join([f"torchwarden: {title}", *("  " + line for line in lines)])


def html_table(title: str, groups: list[Group]) -> str:
    """The same table as HTML, for Jupyter's rich display."""
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _row(g)) + "</tr>"
        for g in groups
    )
    return (
        f'<div class="torchwarden-holdings"><b>torchwarden</b>: {html.escape(title)}'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
