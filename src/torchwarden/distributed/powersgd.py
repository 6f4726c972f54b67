"""torch's PowerSGD hook, with its state made checkpointable and layout-independent.

``PowerSGDState`` keeps its error feedback and warm-start matrices in dicts keyed by
bucket index, plus a NumPy generator: none of it loads with ``weights_only=True``, and
bucket indices do not survive a restart, because a fresh DDP runs its first iteration
with one bucket of every parameter before rebuilding the real ones. This adapter keeps
torch's arithmetic untouched and translates the state: ``state_dict()`` slices each
bucket's flat error, P and Q into per-parameter tensors; after a load, and whenever DDP
changes a bucket's layout, it rebuilds the flat tensors of the new layout from those
pieces before torch's hook runs. It also records each bucket's layout: on the first step
of a resumed run, when DDP still has its one provisional bucket, it replays torch's hook
on the saved buckets one by one (fresh buffers, as DDP allocates them), so that step is
bitwise the step the uninterrupted run took. When the layout differs otherwise (another
``bucket_cap_mb``), the rebuilt state is exact but matrix products run on differently
aligned memory and may differ in the last bit.

Shape legend: for a gradient viewed as an (n, m) matrix at rank r, P is (n, r), Q (m, r).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as torch_powersgd

from torchwarden.distributed.hook import BucketLayout, CommHook, Future, GradBucket
from torchwarden.errors import CommHookError

__all__ = ["PowerSGDHook"]

_KINDS = ("error", "p", "q")


class PowerSGDHook(CommHook):
    """torch's ``powerSGD_hook`` with a ``state_dict`` that resumes it exactly."""

    name = "powersgd"

    def __init__(self, process_group: Any = None, **options: Any) -> None:
        if options.get("batch_tensors_with_same_shape"):
            raise CommHookError(
                "powersgd with batch_tensors_with_same_shape=True orders its matrices by "
                "shape, which this adapter cannot re-lay out on resume; leave it False."
            )
        options.setdefault("start_powerSGD_iter", 2)
        super().__init__(process_group)
        self.state = torch_powersgd.PowerSGDState(process_group=process_group, **options)
        # torch's hook chains its collectives in future callbacks; gloo runs those on its own
        # threads, so with several buckets in flight ranks could launch them in different
        # orders and hang. On gloo each bucket is therefore completed before the next.
        self._serial = dist.get_backend(process_group) == "gloo"
        self._built: dict[int, BucketLayout] = {}  # bucket index -> layout of torch's entries
        self._touched: set[int] = set()  # buckets launched in the current iteration
        self._pieces: dict[str, dict[str, Tensor]] = {k: {} for k in _KINDS}
        self._saved: dict[int, tuple[str, ...]] = {}  # bucket layouts of the loaded state

    def compressed(self, layout: BucketLayout) -> list[tuple[str, int, int]]:
        """(name, P size, Q size) of the parameters torch compresses, in its order."""
        out = []
        for name, shape in zip(layout.names, layout.shapes):
            n, m = shape[0], shape.numel() // shape[0]
            rank = min(n, m, self.state.matrix_approximation_rank)
            # torch's own test, so that both sides agree on which tensors are compressed
            test = torch_powersgd._should_compress
            if test(n, m, rank, self.state.min_compression_rate)[0]:  # type: ignore[no-untyped-call]
                out.append((name, n * rank, m * rank))
        return out

    def communicate(self, bucket: GradBucket) -> Future[Tensor]:
        index, layout = bucket.index(), self.layout(bucket)
        if self.state.iter >= self.state.start_powerSGD_iter:
            replay = self._replay_plan(layout)
            if replay:
                return self._replay(bucket, layout, replay)
            if self._built.get(index) != layout:
                self._relayout(index, layout, bucket.buffer())
            self._touched.add(index)
            self._count_compressed(layout, bucket.buffer().element_size())
        else:
            self.count(bucket.buffer().numel() * bucket.buffer().element_size(), "all_reduce")
        if bucket.is_last():
            self._touched.clear()
        self.end_of(bucket)
        future = torch_powersgd.powerSGD_hook(self.state, bucket)
        if self._serial:
            future.wait()
        return future

    def _replay_plan(self, layout: BucketLayout) -> list[tuple[int, BucketLayout]]:
        """The saved buckets that exactly tile this one, when none has run yet."""
        shapes = dict(zip(layout.names, layout.shapes))
        inside = {i: names for i, names in self._saved.items() if set(names) <= shapes.keys()}
        covered = [n for names in inside.values() for n in names]
        if sorted(covered) != sorted(layout.names) or any(i in self._built for i in inside):
            return []
        return [(i, _layout(names, shapes)) for i, names in sorted(inside.items())]

    def _replay(
        self, bucket: GradBucket, layout: BucketLayout, plan: list[tuple[int, BucketLayout]]
    ) -> Future[Tensor]:
        grads = layout.split(bucket.buffer())
        for index, saved in plan:
            self._build(index, saved, bucket.buffer())
            last = bucket.is_last() and index == plan[-1][0]
            part = _SavedBucket(index, saved.join(grads, bucket.buffer()), saved, last)
            self._count_compressed(saved, part.buffer().element_size())
            # one at a time: every rank then launches the collectives in the same order
            done = torch_powersgd.powerSGD_hook(self.state, part).wait()  # type: ignore[arg-type]
            for name, value in saved.split(done).items():
                grads[name].copy_(value)
        self.end_of(bucket)
        result: Future[Tensor] = Future()
        result.set_result(bucket.buffer())
        return result

    def _count_compressed(self, layout: BucketLayout, itemsize: int) -> None:
        plan = self.compressed(layout)
        names = {name for name, _, _ in plan}
        dense = sum(k for n, k in zip(layout.names, layout.numels) if n not in names)
        for numel in (dense, sum(p for _, p, _ in plan), sum(q for _, _, q in plan)):
            self.count(numel * itemsize, "all_reduce")

    def _relayout(self, index: int, layout: BucketLayout, like: Tensor) -> None:
        # Buckets launched this iteration may still be in flight: leave theirs alone.
        for stale in [i for i in self._built if i not in self._touched]:
            for kind, parts in self._split(stale, self._built.pop(stale)).items():
                self._pieces[kind].update(parts)
            for table in self._tables():
                table.pop(stale, None)
        self._build(index, layout, like)

    def _tables(self) -> tuple[dict[int, Tensor], dict[int, Tensor], dict[int, Tensor]]:
        s = self.state
        return s.error_dict, s.p_memory_dict, s.q_memory_dict

    def _split(self, index: int, layout: BucketLayout) -> dict[str, dict[str, Tensor]]:
        """torch's flat tensors of bucket ``index`` -> {kind: {name: tensor}}."""
        out: dict[str, dict[str, Tensor]] = {k: {} for k in _KINDS}
        error, p, q = (table.get(index) for table in self._tables())
        if error is not None:
            out["error"] = layout.split(error)
        plan = self.compressed(layout)
        if p is not None and q is not None and plan:
            names = [name for name, _, _ in plan]
            out["p"] = dict(zip(names, torch.split(p, [ps for _, ps, _ in plan])))
            out["q"] = dict(zip(names, torch.split(q, [qs for _, _, qs in plan])))
        return out

    def _build(self, index: int, layout: BucketLayout, like: Tensor) -> None:
        """torch's flat tensors for ``layout`` from the per-parameter pieces."""
        error, p, q = self._pieces["error"], self._pieces["p"], self._pieces["q"]
        if any(n in error for n in layout.names):
            self.state.error_dict[index] = layout.join(error, like)
        names = [name for name, _, _ in self.compressed(layout)]
        if names and all(n in p and n in q for n in names):
            self.state.p_memory_dict[index] = torch.cat([p[n].to(like) for n in names])
            self.state.q_memory_dict[index] = torch.cat([q[n].to(like) for n in names])
        for table in self._pieces.values():
            for n in layout.names:
                table.pop(n, None)
        self._built[index] = layout

    def state_dict(self) -> dict[str, Any]:
        pieces = {k: dict(v) for k, v in self._pieces.items()}
        for index, layout in self._built.items():
            for kind, parts in self._split(index, layout).items():
                pieces[kind].update(parts)
        buckets = {str(i): list(lay.names) for i, lay in self._built.items()}
        if not buckets:  # nothing ran since the load: keep what was loaded
            buckets = {str(i): list(names) for i, names in self._saved.items()}
        s = self.state
        return {
            **super().state_dict(),
            "iter": s.iter,
            "rng": _rng_state(s.rng),
            "numel_before_compression": s.total_numel_before_compression,
            "numel_after_compression": s.total_numel_after_compression,
            "next_stats_report": s.next_stats_report,
            "buckets": buckets,
            **{k: {n: t.detach().clone() for n, t in sorted(v.items())} for k, v in pieces.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for kind in _KINDS:
            self.check_names(state[kind], f"powersgd {kind}")
        for table in self._tables():
            table.clear()
        self._built.clear()
        self._touched.clear()
        self._pieces = {k: dict(state[k]) for k in _KINDS}
        self._saved = {int(i): tuple(names) for i, names in state["buckets"].items()}
        s = self.state
        s.iter = int(state["iter"])
        s.rng.set_state(_rng_tuple(state["rng"]))
        s.total_numel_before_compression = int(state["numel_before_compression"])
        s.total_numel_after_compression = int(state["numel_after_compression"])
        s.next_stats_report = int(state["next_stats_report"])


def _layout(names: tuple[str, ...], shapes: dict[str, torch.Size]) -> BucketLayout:
    return BucketLayout.of(names, tuple(shapes[n] for n in names))


class _SavedBucket:
    """What torch's hook reads of a ``GradBucket``, for a saved layout's own buffer."""

    def __init__(self, index: int, flat: Tensor, layout: BucketLayout, last: bool) -> None:
        self._index, self._flat, self._layout, self._last = index, flat, layout, last

    def index(self) -> int:
        return self._index

    def buffer(self) -> Tensor:
        return self._flat

    def gradients(self) -> list[Tensor]:
        return [
            t.view(s) for t, s in zip(self._layout.split(self._flat).values(), self._layout.shapes)
        ]

    def is_last(self) -> bool:
        return self._last


def _rng_state(rng: np.random.RandomState) -> dict[str, Any]:
    """A NumPy MT19937 state as tensors and numbers (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = rng.get_state(legacy=True)
    return {
        "kind": str(kind),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _rng_tuple(state: dict[str, Any]) -> tuple[Any, ...]:
    keys = state["keys"].numpy().astype(np.uint32)
    return (state["kind"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
