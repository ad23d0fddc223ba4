"""Reading weight files safely (safetensors, or torch.load(weights_only=True); never unpickle code) and
fitting them into a model: the one place every kind loads weights."""
from __future__ import annotations

import logging
import math
import pickle
import re
import warnings
from pathlib import Path

import torch
from timm.layers import resample_abs_pos_embed
from torch import nn

from farl_bench.errors import UserError

log = logging.getLogger(__name__)

#: Keys under which training frameworks nest the weights.
NESTING_KEYS = ("state_dict", "model", "module", "weights")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from the usual nesting keys."""
    if not path.is_file():
        raise UserError(f"weight file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error types for bad headers
            raise UserError(f"{path} is not a readable safetensors file ({err})") from None
    not_a_checkpoint = (f"{path} is not a PyTorch checkpoint: give a state dict saved with torch.save "
                        "(.pth, .pt) or a .safetensors file")
    try:
        with warnings.catch_warnings():
            # the safe unpickler's advice on pickle protocols would print above our own one-line refusal
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch names the object it would not build, where it gets that far ("GLOBAL posix.system")
        found = re.search(r"GLOBAL (\S+)", str(err))
        what = f" ({found.group(1)})" if found else ""
        raise UserError(f"{path} was refused: it holds more than tensors, and unpickling that could run "
                        f"code{what}. If you trust it, re-save its tensors alone "
                        "(torch.save(model.state_dict(), ...)) or as safetensors.") from None
    except Exception:  # torch raises many types for files that are not checkpoints at all
        raise UserError(not_a_checkpoint) from None
    while isinstance(obj, dict) and len(obj) > 0 and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        key = next((k for k in NESTING_KEYS if k in obj), None)
        if key is None:
            break
        obj = obj[key]
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no tensors under {', '.join(NESTING_KEYS)} or at the top level")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


#: Wrappers that training code puts in front of a backbone's own parameter names.
PREFIXES = ("module.", "backbone.", "model.", "encoder.", "visual.")


def strip_prefix(state: dict[str, torch.Tensor], model_keys: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors under the chain of PREFIXES whose names fit the model best, renamed; and that chain.

    Keys outside the chosen prefix (a detection head, a text tower) are left out.
    """
    candidates = {""}
    for key in state:
        prefix = ""
        while (step := next((p for p in PREFIXES if key.startswith(prefix + p)), None)) is not None:
            prefix += step
            candidates.add(prefix)

    def hits(prefix: str) -> int:
        return sum(k.startswith(prefix) and k[len(prefix):] in model_keys for k in state)

    best = max(sorted(candidates, key=len), key=hits)  # ties go to the shortest chain
    return {k[len(best):]: v for k, v in state.items() if k.startswith(best)}, best


def _resize_pos_embed(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ViT's absolute position grid resized bicubic to the model's grid, prefix (class) rows kept."""
    own, given = getattr(model, "pos_embed", None), state.get("pos_embed")
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if (not isinstance(own, torch.Tensor) or grid is None or given is None or given.ndim != 3
            or given.shape == own.shape):
        return state
    prefix = 0 if getattr(model, "no_embed_class", False) else getattr(model, "num_prefix_tokens", 0)
    old = math.isqrt(max(0, given.shape[1] - prefix))
    if old * old != given.shape[1] - prefix:
        return state  # not a square grid: leave it to the shape check to report
    # antialias off: plain F.interpolate bicubic (align_corners=False), as FaRL resizes its grid
    resized = resample_abs_pos_embed(given, new_size=list(grid), old_size=[old, old],
                                     num_prefix_tokens=prefix, interpolation="bicubic", antialias=False)
    return {**state, "pos_embed": resized}


def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str, target: str,
                   allow_partial: bool = False, ignore: tuple[str, ...] = ()) -> None:
    """Load `state` (from `source`, a file) into `model` (`target` names it in messages).

    Strips wrapper prefixes, drops keys starting with `ignore` (a classifier the headless model
    lacks), resizes a ViT position grid, then refuses any missing, unexpected or mis-shaped key
    unless `allow_partial`, in which case what fits is loaded and the rest keeps its (seeded)
    random init. A state of which nothing fits is refused either way.
    """
    own = model.state_dict()
    state, prefix = strip_prefix(state, set(own))
    state = _resize_pos_embed(model, {k: v for k, v in state.items() if not k.startswith(ignore)})
    # old checkpoints lack BatchNorm's step counter; it plays no part in inference
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} {tuple(v.shape)}!={tuple(own[k].shape)}" for k, v in state.items()
                  if k in own and v.shape != own[k].shape]
    fitting = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    where = f" (under {prefix!r})" if prefix else ""
    problems = (f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}, other shapes {mismatched[:5]} "
                f"(of {len(missing)}, {len(unexpected)}, {len(mismatched)})")
    if not fitting:
        raise UserError(f"{source} does not fit {target}{where}: {problems}; no key fits: is it for this architecture?")
    if (missing or unexpected or mismatched) and not allow_partial:
        raise UserError(f"{source} does not fit {target}{where}: {problems}. "
                        "Add ?allow_partial=1 to load what fits and keep the rest at random init.")
    model.load_state_dict(fitting, strict=False)
    if missing or unexpected or mismatched:
        log.warning("%s: partial load into %s; %s", source, target, problems)
