"""A loop with a planted leak, and the same loop fixed: what ``torchwarden demo`` runs.

Evaluation losses are summed into a list without ``torch.no_grad()``: every entry keeps
its whole autograd graph (the activations of that batch) alive.
"""

import torch

import torchwarden

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 1))
batches = [torch.randn(64, 256) for _ in range(3)]

history = []
with torchwarden.scope("evaluation, leaking") as leaking:
    for x in batches:
        loss = model(x).pow(2).mean()
        history.append(loss)  # keeps the loss and its graph

history_fixed = []
with torchwarden.scope("evaluation, fixed") as fixed, torch.no_grad():
    for x in batches:
        history_fixed.append(model(x).pow(2).mean().item())  # a number: nothing to keep

if __name__ == "__main__":
    print(leaking.report)
    print()
    print(fixed.report)
