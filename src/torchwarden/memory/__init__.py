"""Memory counters (the leaf every other layer reads). See README.md beside this file."""

from torchwarden.errors import MemoryStatsError as MemoryStatsError
from torchwarden.memory.census import live_tensors as live_tensors
from torchwarden.memory.census import unique_storage_bytes as unique_storage_bytes
from torchwarden.memory.counters import CPUMemory as CPUMemory
from torchwarden.memory.counters import CUDAMemory as CUDAMemory
from torchwarden.memory.counters import cpu_rss as cpu_rss
from torchwarden.memory.counters import device_stats as device_stats
from torchwarden.memory.counters import expandable_segments_enabled as expandable_segments_enabled
from torchwarden.memory.counters import stats as stats

__all__ = [
    "CPUMemory",
    "CUDAMemory",
    "MemoryStatsError",
    "cpu_rss",
    "device_stats",
    "expandable_segments_enabled",
    "live_tensors",
    "stats",
    "unique_storage_bytes",
]
