"""Names in the kernel's own words: ``In[4]:2`` for a site, ``Out[7], _`` for a holder.

The scope engine phrases a site as ``file.py:LINE`` and a holder as a path from a
root (``IPython Out[7]``, ``local h of f() (in sys.last_traceback)``). A notebook user
knows cells, not the temporary files IPython compiles them to, and knows ``_`` and
``Out[7]`` as two handles on one object: this module translates.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from torchwarden.frames import Site, format_site
from torchwarden.lifecycle.holder import Holder
from torchwarden.lifecycle.holdings import Holding

__all__ = ["CellNames", "holder_label", "namespace_holders", "output_names", "site_text"]

_UNDERS = ("_", "__", "___")
_NUMBERED = re.compile(r"^_\d+$")
_INDEX = re.compile(r"\[\d+\]")
_TRACEBACK = re.compile(r"^(.*) \(in sys\.last_(?:traceback|value|exc)\b.*\)$")


class CellNames:
    """Maps the file IPython compiled a cell to (``co_filename``) onto ``In[n]``.

    The kernel names that file after the cell's source, so two cells with the same
    text share it and the map follows the latest: a site is named when it is
    recorded (:meth:`in_cells`), while the cell that made it is still the latest.
    """

    def __init__(self, shell: Any) -> None:
        self._shell = shell
        self._known: dict[str, int] = {}

    def refresh(self) -> None:
        # IPython keeps file name -> execution count; its key is the code's co_filename
        compiled = getattr(getattr(self._shell, "compile", None), "_filename_map", None)
        if isinstance(compiled, dict):
            self._known = {
                format_site(name, 0).rsplit(":", 1)[0]: int(count)
                for name, count in compiled.items()
            }

    def in_cells(self, site: Site | None) -> Site | None:
        """``site`` with a cell's ``file:LINE`` spelled ``In[4]:2``."""
        if site is None or site.user is None:
            return site
        filename, _, line = site.user.rpartition(":")
        count = self._known.get(filename)
        return site if count is None else Site(f"In[{count}]:{line}", site.library)


def site_text(site: Site | None) -> str:
    """A site as a table cell: the user's line, else the library's."""
    if site is None:
        return "not recorded"
    return site.user or site.library or "not recorded"


def output_names(user_ns: dict[str, Any], obj: Any) -> list[str]:
    """Every output-cache handle on ``obj``: ``Out[7]``, ``_``, ``__``, ``___``."""
    out = user_ns.get("Out")
    names = [f"Out[{k}]" for k, v in out.items() if v is obj] if isinstance(out, dict) else []
    if not names:  # the entry was deleted from Out: IPython's _N still holds it
        names = [k for k, v in user_ns.items() if _NUMBERED.match(k) and v is obj]
    names.extend(u for u in _UNDERS if user_ns.get(u) is obj)
    return names


def namespace_holders(user_ns: dict[str, Any], tensors: list[torch.Tensor]) -> dict[int, Holder]:
    """Holders of tensors bound directly to a notebook name or output: no heap walk needed.

    A cell's results are mostly bound to a top-level name (``outputs = model(x)``) or
    shown (``Out[7]``); finding those takes one pass over the namespace.
    """
    by_id = {id(t): t for t in tensors}
    found: dict[int, Holder] = {}
    for name, value in list(user_ns.items()):
        if by_id.get(id(value)) is value and not name.startswith("_"):
            found.setdefault(id(value), Holder(f"global {name}", "global"))
    out = user_ns.get("Out")
    caches = list(out.values()) if isinstance(out, dict) else []
    caches += [v for k, v in list(user_ns.items()) if k in _UNDERS or _NUMBERED.match(k)]
    for value in caches:
        if by_id.get(id(value)) is value:
            found.setdefault(id(value), Holder("IPython Out", "ipython"))
    return found


def holder_label(h: Holding, user_ns: dict[str, Any]) -> str:
    """How the notebook's user calls what holds ``h``: ``outputs``, ``Out[7], _``, ..."""
    path, kind = h.holder.path, h.holder.kind
    if kind == "ipython":
        t = h.ref()
        names = output_names(user_ns, t) if t is not None else []
        return ", ".join(names) or path.removeprefix("IPython ")
    traceback = _TRACEBACK.match(path)
    if traceback is not None:
        return f"last traceback: {traceback.group(1)}"
    if kind == "unknown":  # the walk skips IPython's own objects: they are not the user's names
        return "no name: held from C++ (a graph, a hook) or inside IPython"
    if path == "parameter .grad":
        return "gradients (.grad of parameters)"
    if kind == "state":  # a model's weights read as one holding, not one row per tensor
        root = re.split(r"[.\[]", path.removeprefix("global "), maxsplit=1)[0]
        return f"{root} (parameters and state)"
    # items of one list read as one holding: history[0] ... history[49] -> history[…]
    return _INDEX.sub("[…]", path.removeprefix("global "))
