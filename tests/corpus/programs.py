"""Programs in the idiom of pytorch/examples, each clean, and each with one planted leak.

A program has one ``pass  # PLANT`` line; :func:`planted` replaces it with the leak.
The line marked ``# SITE`` creates the tensor that the planted leak keeps.
"""

from __future__ import annotations

WORD_LM = """\
import torch
from torch import nn
torch.manual_seed(0)
ntokens, emsize, nhid, bptt, batch = 50, 16, 32, 8, 4
class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(ntokens, emsize)
        self.rnn = nn.LSTM(emsize, nhid, 1)
        self.decoder = nn.Linear(nhid, ntokens)
    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)
        return self.decoder(output).view(-1, ntokens), hidden
def repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)
model = RNNModel()
criterion = nn.NLLLoss()
data = torch.randint(0, ntokens, (bptt * 41, batch))
hidden = (torch.zeros(1, batch, nhid), torch.zeros(1, batch, nhid))
total_loss = 0.0
hist = []
for i in range(0, bptt * 40, bptt):
    inputs, targets = data[i:i + bptt], data[i + 1:i + 1 + bptt].reshape(-1)
    hidden = repackage_hidden(hidden)
    model.zero_grad()
    output, hidden = model(inputs, hidden)
    loss = criterion(torch.log_softmax(output, -1), targets)  # SITE
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-0.1)
    total_loss += loss.item()
    pass  # PLANT
"""

DCGAN = """\
import torch
from torch import nn
torch.manual_seed(0)
nz = 8
netG = nn.Sequential(nn.Linear(nz, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh())
netD = nn.Sequential(nn.Linear(16, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())
criterion = nn.BCELoss()
optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
dataset = torch.randn(40 * 8, 16)
G_losses, fakes = [], []
for i in range(40):
    real = dataset[i * 8:(i + 1) * 8]
    netD.zero_grad()
    label = torch.full((8,), 1.0)
    errD_real = criterion(netD(real).view(-1), label)
    errD_real.backward()
    noise = torch.randn(8, nz)
    fake = netG(noise)  # SITE
    label.fill_(0.0)
    errD_fake = criterion(netD(fake.detach()).view(-1), label)
    errD_fake.backward()
    optD.step()
    netG.zero_grad()
    label.fill_(1.0)
    errG = criterion(netD(fake).view(-1), label)
    errG.backward()
    optG.step()
    G_losses.append(errG.item())
    pass  # PLANT
"""

LBFGS = """\
import torch
from torch import nn
torch.manual_seed(0)
x = torch.linspace(-1, 1, 64).unsqueeze(1)
y = torch.sin(3 * x)
model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)
kept = []
for i in range(30):
    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()  # SITE
        loss.backward()
        pass  # PLANT
        return loss
    loss = opt.step(closure)
"""

MNIST = """\
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.fc1 = nn.Linear(4 * 13 * 13, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.log_softmax(self.fc1(torch.flatten(x, 1)), dim=1)
images, labels = torch.randn(STEPS * 8, 1, 28, 28), torch.randint(0, 10, (STEPS * 8,))
loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
model = Net()
optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
hist = []
for batch_idx, (data, target) in enumerate(loader):
    optimizer.zero_grad()
    output = model(data)
    loss = F.nll_loss(output, target)  # SITE
    loss.backward()
    optimizer.step()
    pass  # PLANT
"""

CACHES_AND_GLOBALS = """\
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
cache = {}
recent = []
hoard = []
for step in range(60):
    x = torch.randn(8, 16)
    out = model(x)  # SITE
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    cache[step % 5] = out.detach() * 2
    recent.append(out.detach())
    recent = recent[-4:]
    pass  # PLANT
"""

INFERENCE = """\
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
correct = 0
outs = []
for step in range(60):
    x = torch.randn(16, 64)
    logits = model(x)  # SITE
    correct += int((logits.argmax(1) == 0).sum())
    pass  # PLANT
"""

NUMPY_METRICS = """\
import collections
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
recent = collections.deque(maxlen=5)
means = []
for step in range(50):
    out = model(torch.randn(8, 16))  # SITE
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    arr = out.detach().cpu().numpy()
    means.append(float(arr.mean()))
    recent.append(loss.detach().numpy())
    pass  # PLANT
"""

CLEAN = {
    "word_lm": WORD_LM,
    "dcgan": DCGAN,
    "lbfgs": LBFGS,
    "mnist": MNIST.replace("STEPS", "40"),
    "caches_and_globals": CACHES_AND_GLOBALS,
    "inference": INFERENCE,
    "numpy_metrics": NUMPY_METRICS,
}

PLANTS = {
    "word_lm": "hist.append(loss)",
    "dcgan": "fakes.append(fake)",
    "lbfgs": "kept.append(loss)",
    "mnist": "hist.append(loss)",
    "caches_and_globals": "hoard.append(out)",
    "inference": "outs.append(logits)",
}


def planted(source: str, leak: str) -> str:
    """``source`` with its ``pass  # PLANT`` line replaced by ``leak``."""
    assert "pass  # PLANT" in source
    return source.replace("pass  # PLANT", leak)
