"""`linear`: a linear head on frozen pooled features; a grid of settings trained together, chosen on val."""
from __future__ import annotations

import itertools

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from farl_bench.engine.protocol import Protocol, ProtocolJob, ProtocolResult
from farl_bench.families import Family
from farl_bench.registry import PROTOCOLS


class LinearHparams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lrs: list[float] = Field([1e-3, 1e-2], min_length=1)
    weight_decays: list[float] = Field([0.0, 1e-4, 1e-3, 1e-2], min_length=1)
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(256, gt=0)


class HeadGrid(torch.nn.Module):
    """G independent linear heads (one per setting), evaluated in one einsum over shared features."""

    def __init__(self, n_settings: int, dim: int, n_out: int):
        super().__init__()
        self.weights = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(dim, n_out)) for _ in range(n_settings))
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(n_out)) for _ in range(n_settings))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x D -> G x N x n_out logits."""
        return torch.einsum("nd,gdc->gnc", x, torch.stack(list(self.weights))) + torch.stack(list(self.biases))[:, None]


def train_grid(family: Family, x: torch.Tensor, y: torch.Tensor, settings: list[dict], hp: LinearHparams,
               n_out: int, seed: int) -> HeadGrid:
    """Adam with per-setting learning rate and L2 weight decay; minibatches shared by all settings."""
    torch.manual_seed(seed)
    heads = HeadGrid(len(settings), x.shape[1], n_out)
    groups = [{"params": [w, b], "lr": s["lr"]} for w, b, s in zip(heads.weights, heads.biases, settings)]
    optimizer = torch.optim.Adam(groups)
    decay = torch.tensor([s["weight_decay"] for s in settings])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(hp.epochs):
        for idx in torch.randperm(len(x), generator=generator).split(hp.batch_size):
            logits = heads(x[idx])
            loss = sum(family.loss(logits[g], y[idx]) for g in range(len(settings)))
            penalty = (decay * torch.stack([w.square().sum() for w in heads.weights])).sum()
            optimizer.zero_grad(set_to_none=True)
            (loss + penalty).backward()
            optimizer.step()
    return heads


@PROTOCOLS.register("linear")
class LinearProtocol(Protocol):
    name = "linear"
    Hparams = LinearHparams

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: LinearHparams = job.hparams
        family = job.family
        train = job.features("train", job.train)
        mean, std = train.mean(0), train.std(0) + 1e-6  # standardise on train statistics only
        prep = {split: torch.from_numpy((job.features(split, recs) - mean) / std).float()
                for split, recs in (("train", job.train), ("val", job.val), ("test", job.test))}
        y_train = torch.from_numpy(family.targets(job.train, job.meta))
        y_val = family.targets(job.val, job.meta)
        settings = [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]
        heads = train_grid(family, prep["train"], y_train, settings, hp, family.num_outputs(job.meta), job.seed)

        with torch.inference_mode():
            val_logits = heads(prep["val"])
            scored = []
            for s, logits in zip(settings, val_logits):
                metric = family.score(family.predict(logits), y_val, job.meta)[family.selection_metric]
                scored.append({**s, family.selection_metric: metric.value})
            sign = 1 if metric.higher_is_better else -1
            best = max(range(len(settings)), key=lambda g: sign * scored[g][family.selection_metric])
            test_pred = family.predict(heads(prep["test"])[best])
        return ProtocolResult(np.asarray(test_pred), settings[best], "val", scored)
