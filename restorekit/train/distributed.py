"""Multi-process helpers: DDP set-up under ``torchrun``, the seeded data order, and ``shard``.

Launch training on N processes with::

    torchrun --standalone --nproc_per_node N -m restorekit train CONFIG

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and the rendezvous address); the
trainer then joins a process group (gloo on CPU, NCCL on CUDA, one GPU per local rank), wraps
the net in ``DistributedDataParallel`` and gives each rank its slice of every global batch.
Without those variables everything runs in one process.

The data order is a seeded permutation per epoch (:class:`SeededBatches`), so it is the same
for every rank and every run; a checkpoint stores (epoch, position) and the order continues
exactly after a resume.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from restorekit.errors import RestorekitError

__all__ = ["DistInfo", "dist_info", "init_distributed", "shard", "SeededBatches", "mix_seed",
           "barrier", "broadcast_object", "broadcast_buffers", "all_gather_object", "any_flag",
           "mean_value"]

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world``, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes logs, checkpoints and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise RestorekitError(f"environment variable {name}={value!r} is not an integer"
                              ) from None


def dist_info() -> DistInfo:
    """Rank, world size and local rank from ``torchrun``'s environment (1 process if unset)."""
    rank, world = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise RestorekitError(f"bad RANK={rank} / WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def shard(items: Sequence[T], rank: int | None = None, world: int | None = None) -> list[T]:
    """This rank's share of ``items`` (every ``world``-th item from ``rank``; balanced).

    Defaults come from the environment, so ``restorekit restore FOLDER`` under ``torchrun``
    splits the files with ``shard(files)``; the shards are disjoint and cover every item.
    """
    info = dist_info()
    rank = info.rank if rank is None else rank
    world = info.world if world is None else world
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= rank < world, got rank={rank}, world={world}")
    return list(items[rank::world])


def init_distributed(device: Any, timeout: timedelta | None = None
                     ) -> tuple[DistInfo, Any, bool]:
    """Join the process group if ``WORLD_SIZE > 1``; return (info, device, newly_joined).

    On CUDA each process uses ``cuda:LOCAL_RANK`` and NCCL; elsewhere gloo. A group that is
    already initialised (by the caller or an earlier run) is used as it is. ``timeout`` bounds
    the wait for the other ranks, at joining and in every collective (torch's default if None).
    """
    import torch
    import torch.distributed as dist

    info = dist_info()
    if not info.distributed:
        return info, device, False
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank), device, False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend,
                            **({"timeout": timeout} if timeout is not None else {}))
    # Left up for later runs in this process (re-initialising under torchrun's store can
    # hang); torn down when the process exits.
    atexit.register(_destroy)
    return info, device, True


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _dist() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    dist = _dist()
    if dist is not None:
        dist.barrier()


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (picklable objects)."""
    dist = _dist()
    if dist is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_buffers(module: Any, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BN running statistics) to every rank.

    DDP does this at the start of every forward; doing it before a checkpoint or at the end
    makes every replica equal to what rank 0 saves, without changing the training.
    """
    dist = _dist()
    if dist is None:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=src)


def all_gather_object(obj: T) -> list[T]:
    """Every rank's ``obj``, indexed by rank."""
    dist = _dist()
    if dist is None:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def any_flag(flag: bool, device: Any = None) -> bool:
    """True on every rank if ``flag`` is true on any (keeps ranks stopping at the same step)."""
    dist = _dist()
    if dist is None:
        return flag
    import torch

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_value(value: float, device: Any = None) -> float:
    """The mean of a float over the ranks."""
    dist = _dist()
    if dist is None:
        return value
    import torch

    t = torch.tensor([value], dtype=torch.float64 if device is None or
                     getattr(device, "type", "cpu") == "cpu" else torch.float32, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (run seed, epoch, ...), well mixed and platform-stable."""
    digest = hashlib.sha256(":".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class SeededBatches:
    """Batch sampler of one epoch: a permutation seeded by (seed, epoch), from ``start``.

    The global batch ``batch_size * world`` takes consecutive indices of the permutation and
    rank ``r`` gets its ``r``-th slice of ``batch_size``; the epoch has ``n // (batch_size *
    world)`` batches (the remainder is dropped, it is in the next epoch's permutation).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, epoch: int, start: int = 0,
                 rank: int = 0, world: int = 1, shuffle: bool = True) -> None:
        if n < batch_size * world:
            raise RestorekitError(
                f"the training set has {n} samples, fewer than one global batch of "
                f"{batch_size * world}; lower train.batch_size or raise data.length")
        self.n, self.batch, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start, self.rank, self.world, self.shuffle = start, rank, world, shuffle

    def batches_per_epoch(self) -> int:
        return self.n // (self.batch * self.world)

    def __len__(self) -> int:
        return max(self.batches_per_epoch() - self.start, 0)

    def order(self) -> list[int]:
        """The epoch's index order."""
        import torch

        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        step = self.batch * self.world
        for p in range(self.start, self.batches_per_epoch()):
            lo = p * step + self.rank * self.batch
            yield order[lo: lo + self.batch]
