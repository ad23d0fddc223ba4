"""Reading weight files safely: safetensors, or torch.load(weights_only=True). Never unpickle code."""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from farl_bench.errors import UserError

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
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(f"{path} was refused: loading it would run code from the pickle ({str(err)[:120]}...). "
                        "Re-save it as a plain state dict or as safetensors.") from None
    except Exception as err:
        raise UserError(f"{path} is not a PyTorch checkpoint ({type(err).__name__}: {str(err)[:120]})") from None
    while isinstance(obj, dict) and len(obj) > 0 and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        key = next((k for k in NESTING_KEYS if k in obj), None)
        if key is None:
            break
        obj = obj[key]
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no tensors under {', '.join(NESTING_KEYS)} or at the top level")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
