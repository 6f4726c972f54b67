"""ModelOutput: a dataclass and a pytree that torch.compile, torch.export and DDP accept."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.utils._pytree as pytree
from torch import Tensor

from tests.contracts.models import Classifier, ClassifierOutput, Pair, inputs
from torchwarden.contracts import ModelOutput, ShapeContractError, contract, tensors_of

ROOT = Path(__file__).resolve().parents[2]


def test_a_subclass_is_a_dataclass_and_a_pytree_node() -> None:
    out = ClassifierOutput(torch.ones(2, 3), torch.ones(2, 5, 8))
    leaves, spec = pytree.tree_flatten(out)
    assert len(leaves) == 2 and out.loss is None
    rebuilt = pytree.tree_unflatten([leaf * 2 for leaf in leaves], spec)
    assert isinstance(rebuilt, ClassifierOutput) and rebuilt.logits.sum() == 12


def test_tensors_of_names_every_field_for_the_lifecycle_side() -> None:
    out = ClassifierOutput(torch.ones(2, 3), torch.ones(2, 5, 8), torch.tensor(0.5))
    nested = {"main": out, "aux": (Pair(torch.ones(2, 4), torch.ones(2)), None)}
    paths = [path for path, _ in tensors_of(nested)]
    assert paths == [
        "output['main'].logits",
        "output['main'].hidden",
        "output['main'].loss",
        "output['aux'][0].first",
        "output['aux'][0].second",
    ]


def test_named_tuple_and_nested_outputs_are_checked_by_path() -> None:
    @contract
    def split(x: Tensor) -> tuple[Pair, dict[str, Pair]]:
        pair = Pair(x, x.sum(1).long())
        return pair, {"again": Pair(x, x[:, 0])}

    with pytest.raises(
        TypeError, match=r"output `output\[1\]\['again'\].second` has dtype float32"
    ):
        split(torch.ones(2, 4))


def test_an_optional_field_may_be_none_but_not_misshapen() -> None:
    @contract
    def with_loss(x: Tensor, loss: Tensor | None) -> ClassifierOutput:
        return ClassifierOutput(x, x[..., None], loss)

    assert with_loss(torch.ones(2, 3), None).loss is None
    with pytest.raises(
        ShapeContractError,
        match=r"output `output.loss` has the wrong shape\n(?s:.*)why:      1 dimensions where 0 were expected",
    ):
        with_loss(torch.ones(2, 3), torch.ones(1))


def test_export_flattens_rebuilds_and_serialises_the_output() -> None:
    ids, mask = inputs()
    program = torch.export.export(Classifier(), (ids, mask))
    out = program.module()(ids, mask)
    assert isinstance(out, ClassifierOutput) and out.logits.shape == (2, 3)
    saved = io.BytesIO()
    torch.export.save(program, saved)  # needs the serialised type name ModelOutput registers
    saved.seek(0)
    again = torch.export.load(saved).module()(ids, mask)
    assert isinstance(again, ClassifierOutput) and torch.equal(again.logits, out.logits)


def test_a_subclass_of_a_subclass_is_registered_too() -> None:
    class WithAux(ClassifierOutput):
        aux: Tensor | None = None

    leaves, _ = pytree.tree_flatten(WithAux(torch.ones(1), torch.ones(1), None, torch.ones(1)))
    assert len(leaves) == 3
    assert isinstance(ModelOutput, type)


_DDP_WORKER = textwrap.dedent(
    """
    import os, sys, torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    sys.path.insert(0, os.environ["TEST_ROOT"])
    from tests.contracts.models import Classifier, ClassifierOutput

    rank = int(sys.argv[1])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = DDP(Classifier())
    ids = torch.randint(0, 11, (4, 5), generator=torch.Generator().manual_seed(rank))
    out = model(ids, torch.ones(4, 5))
    assert isinstance(out, ClassifierOutput), type(out)
    out.logits.sum().backward()
    grad = model.module.head.weight.grad.clone()
    dist.all_reduce(grad)  # equal on both ranks iff DDP averaged the gradients
    same = torch.allclose(grad / 2, model.module.head.weight.grad)
    print(f"rank {rank} ok {same}")
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ddp_returns_the_structured_output_and_averages_gradients(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TEST_ROOT": str(ROOT),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DDP_WORKER, str(rank)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for rank, (p, (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, err[-2000:]
        assert f"rank {rank} ok True" in out


def test_a_container_of_the_wrong_kind_is_a_type_error() -> None:
    @contract
    def by_name(x: Tensor) -> dict[str, Tensor]:
        return [x, x]  # type: ignore[return-value]

    pattern = r"by_name: the output is not what the contract describes\n  expected: a mapping\n  got:      list of 2"
    with pytest.raises(TypeError, match=pattern):
        by_name(torch.ones(1))
