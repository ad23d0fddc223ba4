"""Numeric precision and kernels: `--precision fp32|bf16|fp16|auto`, the frozen forward (cast weights,
channels_last, optional torch.compile) and autocast for the parts that train.

Defaults come from benchmarks/README.md (P7): a ViT-B/16 frozen forward with bf16 weights runs ~2.9x
faster than fp32 on a CPU with AVX512-BF16, features at cosine >= 0.999; autocast alone gives ~1.8x
(it re-casts every weight per call and keeps layer norms and attention in fp32). CPUs without native
bf16 emulate it, slower than fp32; so bf16 is the default only where the hardware has it.
"""
from __future__ import annotations

import copy
from contextlib import AbstractContextManager

import torch
from torch import nn

from farl_bench.backbones import Backbone, Features
from farl_bench.errors import UserError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CHOICES = (*DTYPES, "auto")


def default_precision(device: str) -> str:
    """bf16 on GPUs and CPUs that run it natively (Ampere+, AVX512-BF16 or AMX), else fp32 (also on
    Apple MPS, whose reduced-precision kernels vary with the macOS version)."""
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.startswith("mps"):
        return "fp32"
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16" if native else "fp32"


def resolve_precision(precision: str, device: str) -> str:
    """`auto` -> the device's default; any other name checked."""
    if precision == "auto":
        return default_precision(device)
    if precision not in DTYPES:
        raise UserError(f"--precision {precision!r}: choose one of {', '.join(CHOICES)}")
    return precision


def autocast(device: str, precision: str) -> AbstractContextManager:
    """Autocast to the precision for modules whose weights stay fp32 (trained heads, fine-tuning)."""
    return torch.autocast(torch.device(device).type, DTYPES[precision], enabled=precision != "fp32")


def wants_channels_last(module: nn.Module) -> bool:
    """Convolutional networks gain from NHWC kernels (ResNet-50 on CPU: 1.6x fp32, 1.3x bf16); a
    ViT's single patch convolution does not, so it keeps NCHW."""
    return sum(isinstance(m, nn.Conv2d) for m in module.modules()) > 1


class FrozenForward:
    """A backbone as frozen forwards run it, under inference mode: its own copy on the device, in eval
    mode, with weights in the precision's dtype, in channels_last where that helps, optionally
    compiled. The backbone handed in is never moved, cast or re-flagged (the caller owns it; other
    protocols start from it). Call with float images N x 3 x S x S on any device."""

    def __init__(self, backbone: Backbone, device: str, precision: str, compile: bool = False):
        self.backbone, self.device, self.precision, self.compile = backbone, device, precision, compile
        self._module: nn.Module | None = None

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    def _prepare(self) -> nn.Module:
        self.channels_last = wants_channels_last(self.backbone)
        module = copy.deepcopy(self.backbone).to(self.device, self.dtype).eval()
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return torch.compile(module) if self.compile else module

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, levels: bool) -> Features:
        if self._module is None:
            self._module = self._prepare()
        x = images.to(self.device, self.dtype, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._module(x, levels=levels)
