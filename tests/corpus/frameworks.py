"""Framework programs we did not write the loops of: a Hugging Face Trainer, a Lightning module."""

from __future__ import annotations

HF_TRAINER = """\
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from transformers.trainer_callback import TrainerCallback
torch.manual_seed(0)
config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=32, num_labels=2)
model = BertForSequenceClassification(config)
class Synthetic(torch.utils.data.Dataset):
    def __len__(self):
        return 256
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 100, (16,), generator=g), "labels": i % 2}
kept = []
class Keep(TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kw):
        out = model(torch.randint(0, 100, (2, 16))).logits  # SITE
        pass  # PLANT
args = TrainingArguments(output_dir="hf-out", max_steps=40, per_device_train_batch_size=4,
                         logging_steps=5, save_strategy="no", report_to=[], use_cpu=True,
                         disable_tqdm=True, dataloader_num_workers=0)
Trainer(model=model, args=args, train_dataset=Synthetic(), callbacks=[Keep()]).train()
"""

LIGHTNING = """\
import torch
import lightning as L
from torch import nn
torch.manual_seed(0)
kept = []
class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)  # SITE
        self.log("train_loss", loss)
        pass  # PLANT
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)
data = torch.utils.data.TensorDataset(torch.randn(256, 16), torch.randn(256, 1))
loader = torch.utils.data.DataLoader(data, batch_size=4)
trainer = L.Trainer(max_steps=40, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Module(), loader)
"""

FRAMEWORKS = {"hf_trainer": HF_TRAINER, "lightning": LIGHTNING}
FRAMEWORK_PLANTS = {"hf_trainer": "kept.append(out)", "lightning": "kept.append(loss)"}
