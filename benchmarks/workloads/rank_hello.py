"""One rank of rank_start.py: note when its first line ran, then join a tiny all-reduce.

Each rank appends ``RANK started TIME`` at its first line and ``RANK ready TIME`` once
its process group is up (torch imported, rendezvous done).

python -m torch.distributed.run --nproc-per-node 2 --standalone rank_hello.py FILE [gloo|nccl]
"""

import time

STARTED = time.time()  # before any other import: the moment the script began

import os  # noqa: E402
import sys  # noqa: E402


def note(what: str, when: float) -> None:
    with open(sys.argv[1], "a") as f:  # a short append is atomic: ranks never interleave
        f.write(f"{os.environ.get('RANK', '0')} {what} {when!r}\n")


note("started", STARTED)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

backend = sys.argv[2] if len(sys.argv) > 2 else "gloo"
device = torch.device("cpu")
if backend == "nccl":
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
dist.init_process_group(backend)
note("ready", time.time())
x = torch.ones(4, device=device)
dist.all_reduce(x)
assert x[0].item() == dist.get_world_size()
dist.destroy_process_group()
