"""CLIP's text side, for zero-shot prompts: a text encoder with its tokenizer, the projection of an image
backbone's pooled features into the joint space, and the logit scale.

A backbone with a text tower carries `text_tower`, a callable that loads a new `TextTower` (owned by
the caller) when a protocol asks; backbones without one have no such attribute. `clip:` and `farl:`
files load the OpenAI-layout text keys beside `visual.*` (token_embedding, positional_embedding,
transformer.resblocks.*, ln_final, text_projection, logit_scale) into open_clip's TextTransformer;
`openclip:` names keep open_clip's own model (farl_bench.backbones.openclip).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from farl_bench.backbones.checkpoint import load_state_dict
from farl_bench.errors import UserError

#: exp(logit_scale) of a model whose file has none: CLIP's trained value (its clamp).
DEFAULT_SCALE = 100.0
TEXT_KEYS = ("token_embedding.weight", "positional_embedding", "ln_final.weight", "text_projection")


class TextTower(nn.Module):
    """`text(tokens)` gives N x E text embeddings; `tokenize(prompts)` N x L token ids; pooled image
    features (N x D) map to the joint space through `projection` (D x E; None: already there)."""

    def __init__(self, text: nn.Module, tokenize: Callable[[list[str]], torch.Tensor],
                 projection: torch.Tensor | None, scale: float):
        super().__init__()
        self.text = text.eval()
        self.tokenize = tokenize
        self.register_buffer("projection", None if projection is None else projection.detach().float().clone())
        self.scale = scale

    @torch.no_grad()
    def embed_text(self, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
        """P x E unit text embeddings in float32, on the tower's device."""
        device = next(self.text.parameters()).device
        parts = [self.text(self.tokenize(prompts[i:i + batch_size]).to(device)).float()
                 for i in range(0, len(prompts), batch_size)]
        return F.normalize(torch.cat(parts), dim=-1)


class _EncodeText(nn.Module):
    """An open_clip model's `encode_text` as a module (its image tower removed)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)


def open_clip_tower(model: nn.Module, tokenize: Callable[[list[str]], torch.Tensor]) -> TextTower:
    """The text side of a whole open_clip model (CLIP or CustomTextCLIP), which this takes over: its
    image tower is dropped, keeping the projection of a ViT's pooled output (`visual.proj`) if any."""
    proj = getattr(model.visual, "proj", None)
    model.visual = nn.Identity()
    scale = model.logit_scale.exp().item() if isinstance(getattr(model, "logit_scale", None), torch.Tensor) \
        else DEFAULT_SCALE
    return TextTower(_EncodeText(model), tokenize, proj if isinstance(proj, torch.Tensor) else None, scale)


def clip_text_tower(path: Path, act: str, heads: Callable[[int, str], int | None] = lambda width, what: None
                    ) -> TextTower:
    """The text tower and image projection of an OpenAI-layout CLIP state dict (also FaRL's, under
    `state_dict`), keys bare or under one prefix such as `module.`; `act` quick_gelu or gelu; `heads`
    gives the head count for the tower's width (None: width / 64, OpenAI's rule)."""
    from farl_bench.backbones.openclip import import_open_clip  # optional dependency, loaded when asked

    open_clip = import_open_clip()
    state = load_state_dict(path)
    prefix = next((k[: -len("visual.proj")] for k in state if k.endswith("visual.proj")
                   and k[: -len("visual.proj")] + TEXT_KEYS[0] in state), None)
    if prefix is None or not all(prefix + key in state for key in TEXT_KEYS):
        raise UserError(f"{path} holds no CLIP text tower (no {', '.join(TEXT_KEYS)} beside visual.proj): zero-shot "
                        "needs the full CLIP or FaRL checkpoint, not its image tower alone")
    width = state[prefix + "ln_final.weight"].shape[0]
    block = re.compile(re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.")
    depth = len({m.group(1) for k in state if (m := block.match(k))})
    context, _ = state[prefix + "positional_embedding"].shape
    text = open_clip.transformer.TextTransformer(
        context_length=context, vocab_size=state[prefix + TEXT_KEYS[0]].shape[0], width=width,
        heads=heads(width, "text tower") or max(1, width // 64), layers=depth,
        output_dim=state[prefix + "text_projection"].shape[1],
        act_layer=open_clip.transformer.QuickGELU if act == "quick_gelu" else nn.GELU)
    own = text.state_dict()
    given = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k[len(prefix):] in own}
    wrong = sorted(k for k in own if k not in given or given[k].shape != own[k].shape)
    if wrong:
        raise UserError(f"{path}: its CLIP text tower lacks or misshapes {', '.join(wrong[:5])} (of {len(wrong)}): "
                        "is the file complete?")
    text.load_state_dict(given)
    scale = state.get(prefix + "logit_scale")
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=context)
    return TextTower(text, tokenizer, state[prefix + "visual.proj"],
                     DEFAULT_SCALE if scale is None else scale.float().exp().item())
