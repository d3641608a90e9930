"""How many cores a training process may use, when several train on one machine at once.

A process that trains on every core runs an OpenMP pool as wide as the machine. Two Dask workers
doing so on 2 cores trained 4x slower per step each (1,712-1,919 ms against 468-483 ms alone, 838-852
sharing the cores: ``python -m bench.sft_pair``), their threads waiting for cores the other process
held. So concurrent trainers split the cores:

* ``ACADEMY_TRAIN_THREADS`` fixes this process's threads (an operator's choice);
* ``ACADEMY_TRAIN_SHARE`` names a directory where the trainers of one machine register. Each takes
  ``cores // trainers`` threads and re-counts every few steps, so the last one still training gets
  the cores the others gave back (the local Dask runner sets it);
* neither set: every core (the sequential night, the demo, the CLI).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from academy.config import TRAIN_SHARE_ENV, TRAIN_THREADS_ENV


def fixed_thread_count() -> int | None:
    """``ACADEMY_TRAIN_THREADS`` as a number, None when unset; anything else is refused clearly."""
    value = os.environ.get(TRAIN_THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{TRAIN_THREADS_ENV} must be a positive whole number of threads, got {value!r}")
    return int(value)


def live_trainers(share: Path) -> int:
    """Trainers registered in ``share`` whose process is still alive (at least 1: the caller).
    Entries of processes that died without leaving (killed workers) are removed."""
    live = 0
    for entry in share.glob(f"{socket.gethostname()}-*.trainer"):
        if _alive(int(entry.stem.rsplit("-", 1)[1])):
            live += 1
        else:
            entry.unlink(missing_ok=True)
    return max(1, live)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def thread_count(share: Path | None) -> int:
    """Threads to train on now: the fixed count, else this machine's share, else every core."""
    fixed = fixed_thread_count()
    if fixed is not None:
        return fixed
    cores = os.cpu_count() or 1
    return max(1, cores // live_trainers(share)) if share else cores


@contextlib.contextmanager
def training_threads() -> Iterator[Callable[[], int]]:
    """Train on this process's share of the cores; yields ``rebalance()``, which re-counts the
    trainers and resets torch's threads (a Trainer callback calls it every few steps).

    Torch's thread count is restored on exit: the router's embedder pins it to one thread
    process-wide, and a night in the same process (the demo) would otherwise train on one core.
    """
    fixed_thread_count()  # a bad value fails before anything is registered
    before = torch.get_num_threads()
    value = os.environ.get(TRAIN_SHARE_ENV, "").strip()
    share = Path(value) if value else None
    entry = _register(share) if share else None

    def rebalance() -> int:
        threads = thread_count(share)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads

    rebalance()
    try:
        yield rebalance
    finally:
        if entry is not None:
            entry.unlink(missing_ok=True)
        torch.set_num_threads(before)


def _register(share: Path) -> Path:
    share.mkdir(parents=True, exist_ok=True)
    entry = share / f"{socket.gethostname()}-{os.getpid()}.trainer"
    entry.touch()
    return entry
