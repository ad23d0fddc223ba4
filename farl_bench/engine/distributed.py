"""Running under `torchrun`: the process group, which rows each process evaluates, and exact reductions.

One process (no `WORLD_SIZE` > 1 in the environment) is the same code with a world of one: every
helper here then returns its input or all rows, so protocols never branch on being distributed.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator, TypeVar

import torch
import torch.distributed as dist

from farl_bench.engine.devices import resolve_device
from farl_bench.errors import UserError

T = TypeVar("T")

#: How long a process waits for the others at a collective before giving up (a peer that died).
TIMEOUT = timedelta(minutes=30)


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Only the main process writes records and files and prints tables. Also right outside
    `session` (before the group starts, after it ends), from torchrun's RANK."""
    return (dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))) == 0


def launched() -> bool:
    """True under torchrun (or anything else that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def session(device: str) -> Iterator[str]:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA); yields this
    process's device, resolved (`auto` -> what the machine has, see engine.devices; under torchrun
    `cuda` becomes `cuda:<LOCAL_RANK>`)."""
    device = resolve_device(device)
    if not launched() or dist.is_initialized():
        yield device
        return
    if device.startswith("cuda"):
        if device != "cuda":
            raise UserError(f"--device {device}: under torchrun write --device cuda; "
                            "each process takes the GPU of its LOCAL_RANK")
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=TIMEOUT)
    try:
        yield device
    finally:
        dist.destroy_process_group()


def shard_rows(n: int) -> range:
    """This process's contiguous block of rows 0..n-1 for evaluation. Blocks in rank order are the
    rows in order, so gathered per-sample states concatenate into exactly one process's order."""
    r, w = rank(), world_size()
    return range(r * n // w, (r + 1) * n // w)


def gather(obj: T) -> list[T]:
    """`obj` of every process, in rank order (picklable objects; [obj] in one process)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: T) -> T:
    """The main process's `obj`, on every process."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """`model` in DistributedDataParallel when there are several processes (gradients averaged)."""
    if world_size() == 1:
        return model
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def per_process_batch(batch_size: int, what: str) -> int:
    """A global batch split evenly across processes, so N processes take the steps one would."""
    w = world_size()
    if batch_size % w:
        raise UserError(f"{what} {batch_size} does not split evenly across {w} processes; "
                        f"set it to a multiple of {w} (--set {what}=...)")
    return batch_size // w
