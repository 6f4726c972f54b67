"""What a resumable run is made of, and how each part is read out and put back.

:class:`TrainState` holds the objects a loop passes to ``Checkpointer.resume``. Its
state splits in two: the *shared* part (model, optimizer, scheduler, grad scaler,
extras), identical on every rank of data-parallel training and written once, by rank
0; and the *per-rank* part (RNG of every library, data position, communication-hook
state, per-rank extras), written by each rank into its own file. Anything with
``state_dict()``/``load_state_dict()`` (torch's ``Stateful``) can be an extra; NumPy,
Python and torch generators are wrapped so they can be extras too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from torchwarden.errors import CheckpointError, TrainArgumentError
from torchwarden.train.rng import GeneratorState, capture_rng, from_plain, restore_rng, to_plain

__all__ = ["CommHookState", "TrainState"]


class CommHookState:
    """``state_dict``/``load_state_dict`` for a DDP communication-hook state object.

    Hook states such as PowerSGD's keep error feedback and warm-start matrices that a
    resume must restore; they define no ``state_dict``, so their attributes are saved,
    less the process group (not serialisable; the live one is kept on load).
    """

    def __init__(self, state: Any) -> None:
        self.state = state

    def _names(self) -> list[str]:
        slots = getattr(type(self.state), "__slots__", None)
        return list(slots) if slots else list(vars(self.state))

    def state_dict(self) -> dict[str, Any]:
        if hasattr(self.state, "state_dict"):
            return dict(self.state.state_dict())
        out = {}
        for name in self._names():
            value = getattr(self.state, name, None)
            if not isinstance(value, torch.distributed.ProcessGroup):
                out[name] = GeneratorState(value).state_dict() if _generator(value) else value
        return to_plain(out)  # type: ignore[no-any-return]

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if hasattr(self.state, "load_state_dict"):
            self.state.load_state_dict(state)
            return
        for name, value in from_plain(dict(state)).items():
            current = getattr(self.state, name, None)
            if _generator(current):
                GeneratorState(current).load_state_dict(value)
            else:
                setattr(self.state, name, value)


def _generator(value: Any) -> bool:
    return GeneratorState.wraps(value)


def _stateful(name: str, obj: Any) -> Any:
    if GeneratorState.wraps(obj):
        return GeneratorState(obj)
    if callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    ):
        return obj
    raise TrainArgumentError(
        f"{name} ({type(obj).__name__}) has no state_dict()/load_state_dict(): pass an object "
        "that has them (for data, torchdata's StatefulDataLoader or torchwarden.train."
        "ResumableSampler), or wrap it"
    )


@dataclass
class TrainState:
    """The objects whose state makes a run resumable; ``None`` entries are skipped."""

    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None
    loader: Any = None
    comm_hook: Any = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    rank_extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._shared = {k: _stateful(k, v) for k, v in self._shared_objects().items()}
        self._per_rank = {k: _stateful(k, v) for k, v in self._rank_objects().items()}

    def _shared_objects(self) -> dict[str, Any]:
        named = {"model": self.model, "optimizer": self.optimizer}
        named |= {"scheduler": self.scheduler, "scaler": self.scaler}
        named |= {f"extra.{k}": v for k, v in self.extras.items()}
        return {k: v for k, v in named.items() if v is not None}

    def _rank_objects(self) -> dict[str, Any]:
        named = {"loader": self.loader}
        if self.comm_hook is not None:
            named["comm_hook"] = CommHookState(self.comm_hook)
        named |= {f"extra.{k}": v for k, v in self.rank_extras.items()}
        return {k: v for k, v in named.items() if v is not None}

    def shared_state(self, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        return {k: obj.state_dict() for k, obj in self._shared.items() if k not in skip}

    def rank_state(self) -> dict[str, Any]:
        state = {k: obj.state_dict() for k, obj in self._per_rank.items()}
        return {"rng": capture_rng(), "objects": state}

    def load_shared(self, state: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> None:
        self._load(self._shared, state, skip)

    def load_rank(self, state: Mapping[str, Any]) -> None:
        self._load(self._per_rank, state["objects"], ())
        restore_rng(state["rng"])

    @staticmethod
    def _load(objects: Mapping[str, Any], state: Mapping[str, Any], skip: tuple[str, ...]) -> None:
        missing = [k for k in objects if k not in skip and k not in state]
        if missing:
            raise CheckpointError(
                f"the checkpoint holds no state for {missing}: it was saved with other objects "
                f"(it has {sorted(state)}); pass the same objects to resume() as to the run that saved it"
            )
        for k, obj in objects.items():
            if k in skip:
                continue
            try:
                obj.load_state_dict(state[k])
            except (RuntimeError, ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(
                    f"cannot load the saved {k} into {type(obj).__name__}: {exc}; resume with "
                    "objects built as in the run that saved it (same shapes, same parameter groups)"
                ) from exc
