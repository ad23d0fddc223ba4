"""`linear`: a linear head on frozen, cached features; a grid of settings trained together, chosen on
the selection split. Pooled features for attributes, age and expression; a 1x1 convolution on the
last feature map (upsampled by the family's loss and decoder) for parsing and landmarks."""
from __future__ import annotations

import itertools
from typing import Iterator

import torch
from pydantic import Field

from farl_bench.data.samples import FaceSamples
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.protocol import Hparams, Protocol, ProtocolJob, ProtocolResult
from farl_bench.families import Family
from farl_bench.registry import PROTOCOLS


class LinearHparams(Hparams):
    lrs: list[float] = Field([1e-3, 1e-2], min_length=1)
    weight_decays: list[float] = Field([0.0, 1e-4, 1e-3, 1e-2], min_length=1)
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(256, gt=0)


class HeadGrid(torch.nn.Module):
    """G independent linear heads (one per setting) over shared features, in one einsum.

    x: N x D -> G x N x K, or N x C x h x w -> G x N x K x h x w (a 1x1 convolution per setting).
    """

    def __init__(self, n_settings: int, dim: int, n_out: int):
        super().__init__()
        self.weights = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(dim, n_out)) for _ in range(n_settings))
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(n_out)) for _ in range(n_settings))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = torch.stack(list(self.weights)), torch.stack(list(self.biases))
        if x.dim() == 2:
            return torch.einsum("nd,gdk->gnk", x, w) + b[:, None]
        return torch.einsum("nchw,gck->gnkhw", x, w) + b[:, None, :, None, None]


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


def _standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (pooled) or per-channel (maps) mean and std of the training features."""
    dims = (0,) if x.dim() == 2 else (0, 2, 3)
    shape = (1, -1) if x.dim() == 2 else (1, -1, 1, 1)
    return x.mean(dims).reshape(shape), x.std(dims).reshape(shape) + 1e-6


@PROTOCOLS.register("linear")
class LinearProtocol(Protocol):
    name = "linear"
    Hparams = LinearHparams

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: LinearHparams = job.hparams
        family = job.family
        x_train, y_train = job.features.get("train", job.train)
        mean, std = _standardiser(x_train)
        settings = [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]
        heads = train_grid(family, (x_train - mean) / std, y_train, settings, hp,
                           family.num_outputs(job.data.meta), job.seed)

        def outputs(samples: FaceSamples, split: str, g: int) -> Iterator[tuple[list[int], torch.Tensor]]:
            x, _ = job.features.get(split, samples.records)
            with torch.inference_mode():
                for rows in torch.arange(len(x)).split(job.batch_size):
                    yield rows.tolist(), heads((x[rows] - mean) / std)[g]

        select = job.samples(job.select)
        key = family.selection_key(job.data.meta)
        scored = []
        for g, s in enumerate(settings):
            metric = score_split(family, outputs(select, job.selection_split, g), select, job.data)[key]
            scored.append({**s, key: metric.value})
        sign = 1 if metric.higher_is_better else -1
        best = max(range(len(settings)), key=lambda g: sign * scored[g][key])
        return ProtocolResult(lambda samples, split: outputs(samples, split, best), settings[best],
                              job.selection_split, scored)
