"""Small planted leaks, one per way a tensor can be kept, each in a training or inference loop.

Every case is a loop of ``STEPS`` steps whose line ``# SITE`` makes the tensor the
line ``# KEEP`` keeps; ``holder`` is what the finding must name. An ``alias`` case keeps
an alias of that tensor (``detach()``, ``numpy()``): reported as a view is, at its own
line (``# KEEP``) with the storage's line (``# SITE``) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD = """\
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
"""

TRAIN = """\
for step in range({steps}):
    out = model(torch.randn(8, 16))  # SITE
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
{keep}
"""


NUMPY = "(numpy array sharing its storage)"  # kept through .numpy(): its base pins the tensor


@dataclass(frozen=True)
class Case:
    setup: str
    keep: str
    holder: str
    steps: int = 40
    loop: str = TRAIN
    alias: bool = False

    def source(self) -> str:
        body = "\n".join(f"    {line}" for line in self.keep.splitlines())
        body = body.replace("\n", "  # KEEP\n", 1) if "\n" in body else body + "  # KEEP"
        return HEAD + self.setup + self.loop.format(steps=self.steps, keep=body)


CASES = {
    "every_5th_step": Case("hist = []\n", "if step % 5 == 0: hist.append(out)", "global hist", 50),
    "every_10th_step": Case(
        "hist = []\n", "if step % 10 == 0: hist.append(out)", "global hist", 100
    ),
    "queue": Case("import queue\nQ = queue.Queue()\n", "Q.put(out)", "global Q.queue"),
    "thread_local": Case(
        "import threading\nTLS = threading.local()\nTLS.seen = []\n",
        "TLS.seen.append(out)",
        "global TLS.seen",
    ),
    "autograd_ctx": Case(
        "class Keep(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        ctx.kept = x\n"
        "        return x.clone()\n"
        "    @staticmethod\n"
        "    def backward(ctx, g):\n"
        "        return g\n"
        "ctxs = []\n",
        "ctxs.append(Keep.apply(out).grad_fn)",
        "global ctxs[…].kept",
    ),
    "dataclass_results": Case(
        "from dataclasses import dataclass\n"
        "@dataclass\n"
        "class Result:\n"
        "    logits: torch.Tensor\n"
        "results = []\n",
        "results.append(Result(out))",
        "global results[…].logits",
    ),
    "dict_of_steps": Case("by_step = {}\n", "by_step[step] = out", "global by_step"),
    "numpy_detached": Case(
        "arrs = []\n", "arrs.append(out.detach().numpy())", f"global arrs {NUMPY}", alias=True
    ),
    "numpy_cpu": Case(
        "arrs = []\n",
        "arrs.append(out.detach().cpu().numpy())",
        f"global arrs {NUMPY}",
        alias=True,
    ),
}

COMPILED = """\
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
cmodel = torch.compile(model, backend="aot_eager")
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
hist = []
for step in range(40):
    out = cmodel(torch.randn(8, 16))  # SITE
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    pass  # PLANT
"""
