"""one training process -> one of K under torchrun: batch columns, gathering, stopping together.

Under ``torchrun`` each process trains its own share of the batch columns
and DistributedDataParallel averages the gradients (gloo on CPU, nccl on
GPU); process 0 validates and writes the model folder.  With one process
every method is a no-op, so the training loop reads the same either way.
"""

from __future__ import annotations

import gc
import os

import torch
from torch import nn

from ..errors import MidiError


def is_main_process() -> bool:
    """Whether this is process 0 of a torchrun, or the only process (as ``Distributed.start``
    takes it: one process whatever RANK says): the one that speaks."""
    return int(os.environ.get("WORLD_SIZE", "1")) == 1 or int(os.environ.get("RANK", "0")) == 0


class Distributed:
    """One process, or one of K under torchrun: columns, gathering, stopping together."""

    def __init__(self, rank: int, world: int, device: torch.device) -> None:
        self.rank, self.world, self.device = rank, world, device

    @classmethod
    def start(cls, device: str) -> Distributed:
        chosen = _device(device)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(0, 1, chosen)
        import torch.distributed as dist

        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if chosen.type == "cuda":
            chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(chosen)
        return cls(dist.get_rank(), dist.get_world_size(), chosen)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def columns(self, batch: int) -> slice:
        return slice(self.rank * batch, (self.rank + 1) * batch)

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        import torch.distributed as dist

        value = torch.tensor(
            [int(flag)], device=self.device if self.device.type == "cuda" else "cpu"
        )
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        if self.world == 1:
            return [tensor]
        import torch.distributed as dist

        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return parts

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def stop(self) -> None:
        """Leave together, and leave nothing of the group to the interpreter's exit.

        A DistributedDataParallel wrapper still alive holds the gloo group; when
        it is collected only while Python shuts down, its threads are torn down
        unjoined and the process aborts ("terminate called without an active
        exception"), although training finished.  So the wrappers are collected
        first, and the processes meet before the group goes.
        """
        if self.world > 1:
            import torch.distributed as dist

            gc.collect()
            dist.barrier()
            dist.destroy_process_group()
            gc.collect()


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MidiError("device cuda: no CUDA device here")
    if name not in ("cpu", "cuda"):
        raise MidiError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)
