"""The script behind docs/report-example.png, run as ``train.py`` without this docstring.

    unshare --uts sh -c 'hostname gpu-server && torchwarden run --out run train.py'
    python scripts/screenshot_report.py run/report.html docs/report-example.png --height 1700

It trains a small MLP for 2,400 steps and keeps a 256 KiB tensor every 5th step.
"""

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 2048), nn.ReLU(), nn.Linear(2048, 256))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
history = []
for step in range(2400):
    x = torch.randn(512, 256)
    loss = (model(x) - x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 5 == 0:
        history.append(torch.randn(256, 256))  # kept "for later": grows 256 KiB every 5 steps
