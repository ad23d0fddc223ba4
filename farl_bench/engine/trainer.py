"""`frozen`, `finetune` and `lora`: a task head (and, for finetune, the backbone; for lora, low-rank
adapters on it) trained on augmented crops; the epoch and setting with the best score on the
selection split are kept."""
from __future__ import annotations

import copy
import itertools
import math
from typing import Any, Iterator

import torch
from pydantic import Field, PositiveFloat, PositiveInt
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from farl_bench.data.samples import FaceSamples
from farl_bench.engine import distributed
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.lora import add_adapters
from farl_bench.engine.precision import autocast
from farl_bench.engine.protocol import Hparams, Protocol, ProtocolJob, ProtocolResult
from farl_bench.registry import PROTOCOLS


class FrozenHparams(Hparams):
    lrs: list[float] = Field([1e-3], min_length=1)
    weight_decays: list[float] = Field([1e-4], min_length=1)
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(32, gt=0)
    eval_every: int = Field(1, gt=0, description="epochs between scores on the selection split")
    min_steps: int = Field(0, ge=0, description="epochs repeat the training faces so that the run takes at "
                                                "least this many optimizer steps (small training sets)")


class _BackboneTrainingHparams(FrozenHparams):
    ema: float | None = Field(None, ge=0, lt=1, description="evaluate EMA weights with this decay (FaRL: 0.999)")
    repeat_to_full: bool = Field(True, description="FaRL's low-data rule: an epoch repeats the kept faces up to "
                                 "the full train size, so the schedule takes as many steps as on all the data")


class FinetuneHparams(_BackboneTrainingHparams):
    backbone_lr: float = Field(1e-4, gt=0, description="FaRL: 1e-4 for the backbone, 1e-3/1e-2 for heads")
    layer_decay: float = Field(1.0, gt=0, le=1, description="lr x decay^depth from the top block down")


class LoraHparams(_BackboneTrainingHparams):
    lrs: list[float] = Field([1e-3, 3e-4], min_length=1, description="of the adapters and the head alike")
    ranks: list[PositiveInt] = Field([4, 8], min_length=1)
    alphas: list[PositiveFloat] | None = Field(None, min_length=1, description="adapter scale alpha / rank; "
                                               "None: alpha = 2 x rank")


#: how a setting's values are named in progress lines
SHORT_NAMES = {"weight_decay": "wd"}


class RepeatToSize(Dataset):
    """An epoch of n kept faces as `size` items (item j is face j mod n, each face floor(size/n) or
    ceil(size/n) times), shuffled by the sampler like any dataset: FaRL's low-data rule (size = the
    full train size) and the min_steps floor. Copies of a face get different augmentations (seeded
    by j, not by the face)."""

    def __init__(self, samples: FaceSamples, size: int):
        self.samples, self.size = samples, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, j: int) -> dict:
        return self.samples.item(j % len(self.samples), j)


class TaskModel(torch.nn.Module):
    """A backbone and a task head. With `train_backbone` False (frozen), `train()` leaves the
    backbone in eval mode, so its batch-norm statistics and dropout stay as at inference."""

    def __init__(self, backbone: torch.nn.Module, head: torch.nn.Module, train_backbone: bool = True):
        super().__init__()
        self.backbone, self.head, self.train_backbone = backbone, head, train_backbone

    def train(self, mode: bool = True) -> TaskModel:
        super().train(mode)
        if not self.train_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x, levels=self.head.needs_levels)
        return self.head(feats.levels, feats.pooled)


def _param_groups(model: TaskModel, lr: float, wd: float, backbone_lr: float | None,
                  layer_decay: float) -> list[dict]:
    """The head at `lr`; the backbone's trainable parameters (none without `backbone_lr`) at
    backbone_lr x layer_decay^depth from the top block down."""
    groups = [{"params": list(model.head.parameters()), "lr": lr, "weight_decay": wd}]
    if backbone_lr is not None:
        named = [(n, p) for n, p in model.backbone.named_parameters() if p.requires_grad]
        depth = _block_depths(named)
        deepest = max(depth.values(), default=0)
        for d in sorted(set(depth.values())):
            scale = layer_decay ** (deepest - d)
            groups.append({"params": [p for n, p in named if depth[n] == d], "lr": backbone_lr * scale,
                           "weight_decay": wd})
    return groups


def _block_depths(named: list[tuple[str, torch.nn.Parameter]]) -> dict[str, int]:
    """Depth of each parameter: the index after 'blocks.'/'layer'/'stages.' in its name, +1; 0 before."""
    depths = {}
    for name, _ in named:
        parts = name.split(".")
        number = next((int(p) for a, p in zip(parts, parts[1:]) if a in ("blocks", "stages", "resblocks")
                       and p.isdigit()), None)
        layer = next((int(a[5:]) for a in parts if a.startswith("layer") and a[5:].isdigit()), None)
        depths[name] = (number if number is not None else layer if layer is not None else -1) + 1
    return depths


class _Trainer(Protocol):
    finetune = False  # the backbone's own weights train (and its batch norm and dropout run in training mode)
    revision = 2  # 2: heads start at the output bias, per-item augmentation seeds, DDP-ready batches
    adapter: dict[str, Any] | None = None  # the settings of the adapters last added (lora: the chosen setting's)

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: FrozenHparams = job.hparams
        best = {"score": None, "state": None, "setting": None}
        scored = []
        select = job.samples(job.select)
        key = job.family.selection_key(job.data.meta)
        # The protocol's own copy, moved to the device once: the backbone handed in is never moved,
        # cast or re-flagged. Each setting trains what `_prepare_backbone` makes of it.
        backbone = copy.deepcopy(job.backbone).to(job.device)
        for setting in self._settings(hp):
            for epoch, model in self._train(job, self._prepare_backbone(job, backbone, setting), setting):
                metric = score_split(job.family, self._outputs(model, select, job), select, job.data)[key]
                value = metric.value if metric.higher_is_better else -metric.value
                scored.append({**setting, "epoch": epoch, key: metric.value})
                if best["score"] is None or value > best["score"]:
                    best = {"score": value, "state": copy.deepcopy(model.state_dict()),
                            "setting": {**setting, "epoch": epoch}}
        model = self._model(job, self._prepare_backbone(job, backbone, best["setting"]))
        model.load_state_dict(best["state"])
        return ProtocolResult(lambda samples, split: self._outputs(model, samples, job), best["setting"],
                              job.selection_split, scored,
                              trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
                              adapter=self.adapter)

    def _settings(self, hp: FrozenHparams) -> list[dict[str, Any]]:
        """The grid searched on the selection split, one dict per setting."""
        return [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]

    def _prepare_backbone(self, job: ProtocolJob, backbone: torch.nn.Module, setting: dict[str, Any],
                          ) -> torch.nn.Module:
        """The backbone a setting trains, made from the protocol's copy `backbone` with its parameters'
        requires_grad set: the copy itself, frozen, or (finetune) reset to the original's weights."""
        if self.finetune:
            backbone.load_state_dict(job.backbone.state_dict())
        for p in backbone.parameters():
            p.requires_grad_(self.finetune)
        return backbone

    def _backbone_lr(self, hp: FrozenHparams, lr: float) -> float | None:
        """The learning rate of the backbone's trainable parameters; None when none train."""
        return hp.backbone_lr if self.finetune else None

    def _model(self, job: ProtocolJob, backbone: torch.nn.Module) -> TaskModel:
        """A fresh head (seeded) on `backbone`, the protocol's copy already on the device."""
        torch.manual_seed(job.seed)
        head = job.family.build_head(job.backbone.feature_spec, job.data.meta, linear=False)
        bias = job.family.output_bias(job.train, job.data)
        if bias is not None:
            head.set_output_bias(bias)
        return TaskModel(backbone, head.to(job.device), train_backbone=self.finetune)

    def _train(self, job: ProtocolJob, backbone: torch.nn.Module, setting: dict[str, Any],
               ) -> Iterator[tuple[int, TaskModel]]:
        """Train one setting; yield (epoch, model) whenever it is to be scored."""
        hp: FrozenHparams = job.hparams
        lr, wd = setting["lr"], setting["weight_decay"]
        model = self._model(job, backbone)
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(hp.ema)) if getattr(hp, "ema", None) else None
        optimizer = torch.optim.AdamW(_param_groups(model, lr, wd, self._backbone_lr(hp, lr),
                                                    getattr(hp, "layer_decay", 1.0)))
        trained = distributed.wrap(model, job.device)
        samples = job.samples(job.train, train=True)
        size = len(samples)
        if getattr(hp, "repeat_to_full", False):
            size = max(size, len(job.data.split("train")))
        # a few dozen steps learn nothing: a tiny set is repeated within each epoch, so epochs and
        # eval_every keep their meaning
        size = max(size, math.ceil(hp.min_steps / hp.epochs) * hp.batch_size)
        epoch_items = RepeatToSize(samples, size) if size > len(samples) else samples
        # The same global batches for any number of processes: one permutation per (seed, epoch),
        # each process taking its slice of every batch (so 1 and N processes take the same steps).
        sampler = DistributedSampler(epoch_items, distributed.world_size(), distributed.rank(), seed=job.seed)
        loader = DataLoader(epoch_items, batch_size=distributed.per_process_batch(
            hp.batch_size, f"protocols.{self.name}.batch_size"), sampler=sampler, num_workers=job.workers,
            pin_memory=job.device.startswith("cuda"))
        shown = " ".join(f"{SHORT_NAMES.get(k, k)}={v:g}" for k, v in setting.items())
        advance = job.progress(f"{self.name} {shown}", hp.epochs * len(loader))
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none (disabled: a no-op)
        scaler = torch.amp.GradScaler(torch.device(job.device).type, enabled=job.precision == "fp16")
        for epoch in range(1, hp.epochs + 1):
            samples.epoch = epoch
            sampler.set_epoch(epoch)
            model.train()
            for batch in loader:
                with autocast(job.device, job.precision):
                    loss = job.family.loss(trained(batch["image"].to(job.device)), batch["target"].to(job.device))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update_parameters(model)
                advance(1)
            if epoch % hp.eval_every == 0 or epoch == hp.epochs:
                yield epoch, (ema.module if ema is not None else model)

    @staticmethod
    def _outputs(model: TaskModel, samples: FaceSamples, job: ProtocolJob) -> Iterator[tuple[list[int], torch.Tensor]]:
        loader = DataLoader(samples, batch_size=job.batch_size, num_workers=job.workers,
                            sampler=distributed.shard_rows(len(samples)), pin_memory=job.device.startswith("cuda"))
        model.eval()
        for batch in loader:
            # contexts closed before yielding: autocast must not reach the caller's scoring code
            with torch.inference_mode(), autocast(job.device, job.precision):
                out = model(batch["image"].to(job.device)).float().cpu()
            yield batch["index"].tolist(), out


@PROTOCOLS.register("frozen")
class FrozenProtocol(_Trainer):
    """Frozen backbone, multi-level features, the family's task head trained; settings chosen on validation."""
    name = "frozen"
    Hparams = FrozenHparams


@PROTOCOLS.register("finetune")
class FinetuneProtocol(_Trainer):
    """Backbone and head trained together (layer-wise learning rates, optional EMA), FaRL's recipe."""
    name = "finetune"
    Hparams = FinetuneHparams
    finetune = True


@PROTOCOLS.register("lora")
class LoraProtocol(_Trainer):
    """Low-rank adapters (peft) on the backbone's attention projections (else convolutions) and the task head trained."""
    name = "lora"
    Hparams = LoraHparams
    revision = 1

    def _settings(self, hp: LoraHparams) -> list[dict[str, Any]]:
        optimizer_settings = super()._settings(hp)
        return [{"rank": rank, "alpha": alpha, **rest} for rank in hp.ranks
                for alpha in (hp.alphas or [2 * rank]) for rest in optimizer_settings]

    def _prepare_backbone(self, job: ProtocolJob, backbone: torch.nn.Module, setting: dict[str, Any],
                          ) -> torch.nn.Module:
        """A fresh copy of the protocol's (untrained) copy with adapters of the setting's rank and
        alpha, seeded, so every setting and the final model start alike."""
        adapted = copy.deepcopy(backbone)
        torch.manual_seed(job.seed)
        self.adapter = add_adapters(adapted, setting["rank"], setting["alpha"])
        return adapted

    def _backbone_lr(self, hp: LoraHparams, lr: float) -> float:
        return lr
