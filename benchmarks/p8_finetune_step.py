"""P8 (GPU): fine-tune step throughput of the suite (TaskModel: Backbone wrapper + the attributes
family's head and loss, per-depth AdamW groups, as the finetune protocol builds them) / the raw timm
model with its own 40-way head, same loss and AdamW, both under bf16 autocast on the same batches
already on the device (loading is P3). Goal: >= 0.9.

On a CPU-only machine with native bf16 the same code runs on a small ViT and prints SKIP (the goal
is for GPUs); without native bf16 it prints SKIP at once."""
from __future__ import annotations

import timm
import torch

from _common import native_bf16_cpu, report, seconds, skip
from farl_bench.backbones import build
from farl_bench.engine.precision import autocast
from farl_bench.engine.trainer import FinetuneHparams, TaskModel, _param_groups
from farl_bench.families import get

ATTRIBUTES = 40


def steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images, targets, loss_fn, device: str) -> None:
    for x, y in zip(images, targets):
        with autocast(device, "bf16"):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    cuda = torch.cuda.is_available()
    if not cuda and not native_bf16_cpu():
        skip("P8", "no GPU, and this CPU has no native bf16: its goal is for GPUs")
        return
    device = "cuda" if cuda else "cpu"
    arch, size, batch, n_steps = ("vit_base_patch16_224", 224, 64, 30) if cuda else ("vit_small_patch16_224", 112, 8, 4)
    generator = torch.Generator().manual_seed(0)
    images = [torch.randn(batch, 3, size, size, generator=generator).to(device) for _ in range(n_steps)]
    targets = [(torch.rand(batch, ATTRIBUTES, generator=generator) < 0.3).to(device) for _ in range(n_steps)]
    family = get("attributes")

    backbone = build(f"timm:{arch}", size)
    ours = TaskModel(backbone, family.build_head(backbone.feature_spec, {"attribute_names": [""] * ATTRIBUTES},
                                                 linear=False)).to(device)
    hp = FinetuneHparams()
    ours_opt = torch.optim.AdamW(_param_groups(ours, 1e-3, 1e-4, hp.backbone_lr, hp.layer_decay))
    raw = timm.create_model(arch, pretrained=False, num_classes=ATTRIBUTES, img_size=size).to(device)
    raw_opt = torch.optim.AdamW(raw.parameters(), lr=1e-4, weight_decay=1e-4)

    def run_ours() -> None:
        steps(ours, ours_opt, images, targets, family.loss, device)

    def run_raw() -> None:
        steps(raw, raw_opt, images, targets, family.loss, device)

    run_ours(), run_raw()  # warm-up: kernels chosen, optimizer state made
    times = {"ours": [], "raw": []}
    for r in range(3):  # alternated, in either order
        for name, fn in [("ours", run_ours), ("raw", run_raw)][::1 if r % 2 else -1]:
            times[name].append(seconds(fn))
    ours_rate, raw_rate = (n_steps * batch / min(times[k]) for k in ("ours", "raw"))
    name = torch.cuda.get_device_name() if cuda else "CPU"
    details = f"{arch} at {size} px, batches of {batch}, bf16 autocast on {name}: ours {ours_rate:.1f} img/s, raw {raw_rate:.1f} img/s"
    if cuda:
        report("P8", ours_rate / raw_rate, 0.9, True, details)
    else:
        print(f"P8 {ours_rate / raw_rate:.5g} >=0.9 SKIP  # no GPU; {details}", flush=True)


if __name__ == "__main__":
    main()
