from __future__ import annotations

import pytest
import torch

import torchwarden
from torchwarden.memory import counters as stats
from torchwarden.memory import heap


def test_cpu_stats_count_tensor_bytes() -> None:
    before = stats.stats("cpu")[0]
    big = torch.ones(1 << 20)  # 4 MiB
    after = stats.stats("cpu")[0]
    assert isinstance(after, stats.CPUMemory)
    assert after.tensor_bytes is not None and before.tensor_bytes is not None
    assert after.tensor_bytes - before.tensor_bytes >= big.nbytes
    assert after.rss > 0
    del big


def test_default_lists_cpu_without_initialising_cuda() -> None:
    devices = [m.device for m in torchwarden.memory.stats(census=False)]
    assert devices[0] == "cpu"
    assert not torch.cuda.is_initialized()


def test_views_counted_once() -> None:
    base = torch.zeros(1000)
    assert torchwarden.memory.unique_storage_bytes([base, base[:10], base.view(10, 100)]) == 4000


def test_bad_device_says_what_works() -> None:
    with pytest.raises(ValueError, match="'cpu' or 'cuda"):
        stats.stats("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        stats.stats("cuda")


def test_expandable_segments_read_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not stats.expandable_segments_enabled()
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128,expandable_segments:True")
    assert stats.expandable_segments_enabled()


def test_fragmentation_is_reserved_but_unallocated_share() -> None:
    m = stats.CUDAMemory("cuda:0", 300, 400, 300, 350, 400, 0, 0, False)
    assert m.fragmentation == pytest.approx(0.25)
    assert m.to_dict()["fragmentation"] == 0.25


def test_heap_counter_moves_with_cpu_tensors() -> None:
    before = heap.heap_in_use()
    keep = [torch.ones(64) for _ in range(100)]
    assert heap.heap_in_use() > before
    del keep


def test_cuda_memory_keeps_its_positional_fields_and_adds_inactive_split() -> None:
    m = stats.CUDAMemory("cuda:0", 300, 400, 300, 350, 400, 0, 0, False)
    assert m.inactive_split == 0 and m.to_dict()["inactive_split"] == 0


def test_device_stats_is_for_cuda_devices_only() -> None:
    with pytest.raises(ValueError, match="reads the CUDA allocator"):
        torchwarden.memory.device_stats("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_device_stats_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"device_stats\('cuda:0'\): CUDA is not available"):
        torchwarden.memory.device_stats(0)


def test_allocator_is_not_read_before_cuda_starts() -> None:
    if not torch.cuda.is_initialized():
        assert stats.allocator_triples() == ()
    assert not torch.cuda.is_initialized()


def test_only_the_memory_package_reads_the_allocator() -> None:
    from pathlib import Path

    src = Path(torchwarden.__file__).parent
    paths = [*sorted((src / "lifecycle").glob("*.py")), src / "runtime" / "steps.py"]
    readers = [p.name for p in paths if "memory_stats" in p.read_text()]
    assert readers == []
