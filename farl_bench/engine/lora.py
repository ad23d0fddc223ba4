"""Low-rank adapters (through peft) on a backbone copy: which layers get them, and adding them.

Layers are chosen by module type, never by per-family name lists: the attention projections
(nn.Linear children of a module whose class name ends in "Attention", as in timm, open_clip and
Hugging Face ViTs, and whole nn.MultiheadAttention modules, which peft adapts itself); a network
without attention gets adapters on its dense convolutions (nn.Conv2d with groups=1).
"""
from __future__ import annotations

import re
from typing import Any

import torch

from farl_bench.errors import UserError


def adapter_targets(module: torch.nn.Module) -> tuple[str, list[str]]:
    """("attention" or "conv", the names of the modules to adapt) for `module`; UserError without either."""
    attention = []
    for parent_name, parent in module.named_modules():
        if isinstance(parent, torch.nn.MultiheadAttention):
            attention.append(parent_name)  # its projections live in its forward, not in Linear calls
        elif type(parent).__name__.endswith("Attention"):
            attention += [f"{parent_name}.{name}".lstrip(".") for name, child in parent.named_children()
                          if isinstance(child, torch.nn.Linear)]
    if attention:
        return "attention", attention
    convs = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 1]
    if convs:
        return "conv", convs
    raise UserError(f"backbone {getattr(module, 'spec', '') or type(module).__name__} has no layer LoRA can adapt "
                    "(no attention projections, no nn.Conv2d); use -p linear, frozen or finetune for it")


def add_adapters(backbone: torch.nn.Module, rank: int, alpha: float) -> dict[str, Any]:
    """Wrap `backbone`'s attention projections (else its convolutions) with LoRA adapters, in place,
    initialised from the global torch seed; leave only the adapters trainable. Returns the settings
    the record keeps."""
    import peft  # 3 s to import (transformers): only runs that use adapters pay it

    kind, names = adapter_targets(backbone)
    # a regex is matched whole: a bare name would also match every module whose name ends with it
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0,
                             target_modules="|".join(re.escape(name) for name in names))
    peft.inject_adapter_in_model(config, backbone)
    for name, p in backbone.named_parameters():
        p.requires_grad_(".lora_" in name)
    return {"library": f"peft {peft.__version__}", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0,
            "layers": kind, "target_modules": names}
