"""The OOM verdict reasons against the memory this run may use, not the device's total."""

from __future__ import annotations

from torchwarden.runtime.oom import Allowance, _verdict

GiB = 1 << 30


def test_verdict_under_a_memory_fraction_names_the_cap() -> None:
    allowed = Allowance(
        limit=14 * GiB, free=GiB // 2, fraction=0.1, device_total=140 * GiB, visible="3"
    )
    verdict, fix = _verdict(GiB, allowed, cached=0, largest=0)
    assert "this run may use 14.0 GiB (0.1 of 140 GiB (CUDA_VISIBLE_DEVICES=3))" in verdict
    assert "126" not in verdict  # the device's free memory is not this run's
    assert "--memory-fraction (now 0.1)" in fix


def test_verdict_without_a_cap_reads_the_device() -> None:
    allowed = Allowance(limit=80 * GiB, free=GiB, fraction=1.0, device_total=80 * GiB, visible=None)
    verdict, fix = _verdict(2 * GiB, allowed, cached=0, largest=0)
    assert "1.0 GiB free of 80.0 GiB" in verdict and "--memory-fraction" not in fix
