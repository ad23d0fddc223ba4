"""`linear`: a linear head on frozen, cached features; a grid of settings trained together, chosen on
the selection split. Pooled features for attributes, age and expression; a 1x1 convolution on the
last feature map (upsampled by the family's loss and decoder) for parsing and landmarks."""
from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from typing import Iterator

import torch
from pydantic import Field

from farl_bench.data.samples import FaceSamples
from farl_bench.engine import distributed
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.precision import autocast
from farl_bench.engine.protocol import Hparams, Protocol, ProtocolJob, ProtocolResult
from farl_bench.families import Family
from farl_bench.progress import ProgressFactory, no_bars
from farl_bench.registry import PROTOCOLS


class LinearHparams(Hparams):
    lrs: list[float] = Field([1e-3, 1e-2], min_length=1)
    weight_decays: list[float] = Field([0.0, 1e-4, 1e-3, 1e-2], min_length=1)
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(256, gt=0)
    min_steps: int = Field(0, ge=0, description="train for more epochs when `epochs` would take fewer "
                                                "optimizer steps (small training sets)")


class HeadGrid(torch.nn.Module):
    """G independent linear heads (one per setting) over shared features, as one matrix product.

    x: N x D -> G x N x K, or N x C x h x w -> G x N x K x h x w (a 1x1 convolution per setting);
    with `setting`, that setting's head only (1 x N x ...). With `map_size` (h, w) the bias of a
    map head is one per position (G x K x h x w), not one per output.
    """

    def __init__(self, n_settings: int, dim: int, n_out: int, map_size: tuple[int, int] | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(n_settings, dim, n_out))  # G x D x K
        self.bias = torch.nn.Parameter(torch.zeros(n_settings, n_out, *(map_size or ())))  # G x K (x h x w)

    def forward(self, x: torch.Tensor, setting: int | None = None) -> torch.Tensor:
        return self.per_sample(x, setting).transpose(0, 1)

    def per_sample(self, x: torch.Tensor, setting: int | None = None) -> torch.Tensor:
        """N x G x K (x h x w): each sample's outputs under every setting; flattening the first two
        dimensions needs no copy."""
        w, b = self.weight, self.bias
        if setting is not None:
            w, b = w[setting:setting + 1], b[setting:setting + 1]
        g, d, k = w.shape
        flat = w.permute(1, 0, 2).reshape(d, g * k)  # all settings side by side: one GEMM, not G
        if x.dim() == 2:
            return (x @ flat + b.reshape(-1)).view(-1, g, k)
        per_position = b.dim() == 4
        out = torch.einsum("nchw,cm->nmhw", x, flat) + b.reshape(1, g * k, *(b.shape[2:] if per_position else (1, 1)))
        return out.view(x.shape[0], g, k, *x.shape[2:])


class _GridAdam:
    """torch.optim.Adam's update (betas 0.9, 0.999; eps 1e-8) with one learning rate and one L2
    weight decay per setting, the first dimension of every parameter (decay on the first parameter,
    the weights, only): one set of in-place tensor ops per step for the whole grid."""

    def __init__(self, params: list[torch.nn.Parameter], lrs: torch.Tensor, decays: torch.Tensor,
                 betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lrs, self.betas, self.eps = params, lrs, betas, eps
        self.decays = 2 * decays.view(-1, *[1] * (params[0].dim() - 1))  # d/dw of decay * w^2
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, (1 - b2 ** self.t) ** 0.5
        self.params[0].grad.addcmul_(self.decays, self.params[0])
        for p, m, v in zip(self.params, self.m, self.v):
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denominator = v.sqrt().div_(c2).add_(self.eps)
            p.addcdiv_(m * (self.lrs / c1).view(-1, *[1] * (p.dim() - 1)), denominator, value=-1)
            p.grad = None


def train_grid(family: Family, x: torch.Tensor, y: torch.Tensor, settings: list[dict], hp: LinearHparams,
               n_out: int, seed: int, standardise: tuple[torch.Tensor, torch.Tensor] | None = None,
               bias: torch.Tensor | None = None, progress: ProgressFactory = no_bars) -> HeadGrid:
    """Adam with per-setting learning rate and L2 weight decay (decay * |w|^2 added to the loss, as its
    gradient in the optimizer); minibatches shared by all settings, whose losses are summed. x (any
    float dtype, e.g. fp16 from the cache) is converted per batch and standardised with (mean, std)
    when given. Every head starts at `bias` (n_out,) when given, else 0; `progress` shows the steps."""
    torch.manual_seed(seed)
    n_settings = len(settings)
    # Maps get a bias per position: a 1x1 convolution alone has no way to say where things usually
    # are (the mean shape, the mean mask), so on weak features landmarks collapsed to the centre.
    heads = HeadGrid(n_settings, x.shape[1], n_out, tuple(x.shape[2:]) if x.dim() == 4 else None)
    if bias is not None:
        heads.bias.data.copy_(bias.reshape(1, n_out, *[1] * (heads.bias.dim() - 2)).expand_as(heads.bias))
    optimizer = _GridAdam([heads.weight, heads.bias], torch.tensor([s["lr"] for s in settings]),
                          torch.tensor([s["weight_decay"] for s in settings]))
    generator = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(x) / hp.batch_size)
    epochs = max(hp.epochs, math.ceil(hp.min_steps / steps))
    advance = progress(f"linear heads x{n_settings}", epochs * steps)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(hp.batch_size):
            advance(1)  # before the step: a batch with nothing to learn from is skipped below
            xb = x.index_select(0, idx).float()  # 4x faster than x[idx] on CPU
            if standardise is not None:
                xb.sub_(standardise[0]).div_(standardise[1])
            yb = y.index_select(0, idx)
            terms, rows = family.loss_terms(yb), _rows_per_part(heads, xb, yb)
            if terms == 0:  # nothing to learn from (every pixel outside its crop)
                continue
            for start in range(0, len(idx), rows):
                xp, yp = xb[start:start + rows], yb[start:start + rows]  # views
                part_terms = terms if len(yp) == len(yb) else family.loss_terms(yp)
                if part_terms == 0:
                    continue
                targets = yp.unsqueeze(1).expand(len(yp), n_settings, *yp.shape[1:]).flatten(0, 1)
                # a family loss is a mean over the batch, so over G x B rows it is the settings' mean
                # loss; a part's mean counts as its share of the batch's terms
                loss = family.loss(heads.per_sample(xp).flatten(0, 1), targets)
                (loss * (n_settings * part_terms / terms)).backward()
            optimizer.step()
    return heads


def _rows_per_part(heads: HeadGrid, x: torch.Tensor, y: torch.Tensor) -> int:
    """Rows of a minibatch per backward pass. Dense losses see G x K maps at the larger of the map's
    size and the target's (a mask: at 448 px, 8 settings x 11 classes, 70 MB a face; landmark targets
    are smaller than their maps): in parts of <= 16 MB the batch never has to fit at once, and the
    parts' buffers are reused instead of fresh pages (measured: LaPa at 112 px spent most of its time
    in the kernel zeroing new pages, 30 of 42 ms a face)."""
    if x.dim() == 2:
        return len(x)
    settings, _, outputs = heads.weight.shape
    pixels = max(x[0, 0].numel(), y[0].numel())
    return max(1, (16 << 20) // (4 * settings * outputs * pixels))


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Torch ops on `n` intra-op threads inside the block. Pooled heads are tiny (a 256 x 768 x 320
    product per step): on threads they wait on each other more than they compute, badly so on a
    busy machine (measured on 2 shared cores: 6-9 ms a step on 1 thread, 180-240 ms on 2)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _standardiser(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (pooled) or per-channel (maps) mean and std of the training features, float32;
    summed in float64 over blocks of rows, as x may be fp16 and memory-mapped."""
    dims = (0,) if x.dim() == 2 else (0, 2, 3)
    shape = (1, -1) if x.dim() == 2 else (1, -1, 1, 1)
    total = squares = torch.zeros(x.shape[1], dtype=torch.float64)
    rows = max(1, 2**24 // max(1, x[0].numel()))  # ~128 MB of float64 per block
    for block in x.split(rows):
        block = block.double()
        total = total + block.sum(dims)
        squares = squares + block.square().sum(dims)
    count = x.numel() // x.shape[1]
    mean = total / count
    var = (squares - count * mean.square()).clamp_min(0) / max(count - 1, 1)
    return mean.float().reshape(shape), var.sqrt().float().reshape(shape) + 1e-6


@PROTOCOLS.register("linear")
class LinearProtocol(Protocol):
    """Linear heads on cached frozen features (pooled, or a 1x1 conv for dense tasks); a grid chosen on validation."""
    name = "linear"
    Hparams = LinearHparams
    revision = 2  # 2: heads train under the run's autocast

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: LinearHparams = job.hparams
        family = job.family
        x_train, y_train = job.features.get("train", job.train, targets=True)
        mean, std = _standardiser(x_train)
        settings = [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]
        threads = 1 if x_train.dim() == 2 else torch.get_num_threads()  # maps are big enough to share
        # the heads' products in the run's precision, as the frozen and finetune heads train: weights,
        # optimizer state and losses stay fp32 (autocast); the features came from that precision anyway
        with _threads(threads), autocast(job.device, job.precision):
            heads = train_grid(family, x_train, y_train, settings, hp, family.num_outputs(job.data.meta),
                               job.seed, (mean, std), family.output_bias(job.train, job.data), job.progress)

        def outputs(samples: FaceSamples, split: str, g: int) -> Iterator[tuple[list[int], torch.Tensor]]:
            x, _ = job.features.get(split, samples.records)
            for rows in torch.as_tensor(distributed.shard_rows(len(x))).split(job.batch_size):
                with torch.inference_mode(), _threads(threads), autocast(job.device, job.precision):
                    out = heads((x[rows].float() - mean) / std, g)[0].float()  # closed before the yield
                yield rows.tolist(), out

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
