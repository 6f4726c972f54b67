"""Workloads for the end-to-end tests, written into a temporary directory."""

CLEAN = """\
import sys, torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
losses = []
for step in range(int(sys.argv[1])):
    x = torch.randn(32, 16)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print("argv", sys.argv, "name", __name__)
"""

LEAK_LIST = """\
import torch
from torch import nn
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
history = []
for step in range(50):
    loss = model(torch.randn(32, 16)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step >= 15:
        history.append(loss)
"""

LEAK_GRAPH = """\
import torch
from torch import nn
model = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
val = [torch.randn(64, 16) for _ in range(4)]
val_total = 0
for step in range(40):
    loss = model(torch.randn(32, 16)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step >= 15:
        val_total = val_total + model(val[step % 4]).mean()
"""

CRASH = """\
import torch
from torch import nn
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(10):
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    if step == 4:
        raise ValueError("planted failure at step 4")
"""

FOREVER = """\
import time, torch
import torchwarden
x = torch.zeros(4)
step = 0
while True:
    x += 1
    torchwarden.step()
    step += 1
    if step == 3:
        print("ready", flush=True)
    time.sleep(0.02)
"""

DDP = """\
import os, sys, torch, torch.distributed as dist
from torch import nn
dist.init_process_group("gloo")
model = nn.parallel.DistributedDataParallel(nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(6):
    loss = model(torch.randn(4, 8)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
t = torch.ones(1) * (dist.get_rank() + 1)
dist.all_reduce(t)
# one write per line: two ranks share the pipe, and unbuffered output (PYTHONUNBUFFERED)
# would interleave print()'s separate pieces
sys.stdout.write(f"rank {dist.get_rank()} sum {int(t.item())}\\n")
sys.stdout.flush()
dist.destroy_process_group()
"""
