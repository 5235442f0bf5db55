"""Worker processes on this machine: one mechanism, :mod:`concurrent.futures`.

The routing searches, the travel-time matrices, the node contraction, the list
reconciliation and ``planner check`` all run their parallel work in a
:class:`~concurrent.futures.ProcessPoolExecutor` made here.  Processes are forked (the
modules, the graph and libsodium are loaded once) unless the parent runs threads of its own,
which only ``planner check`` does (it plans several scenarios, each with OR-Tools threads):
its workers are spawned.  :mod:`dask.distributed` is used by the robustness sweep alone,
whose runs may go to a scheduler on other machines (:func:`planner.sweep.run_sweep`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Literal


def can_start_processes() -> bool:
    """False inside a daemon process (a dask worker), which may not start processes."""
    return not mp.current_process().daemon


def local_cores(limit: int = 2) -> int:
    """Processes worth starting here: the cores, at most ``limit``; 1 where none may start."""
    return min(os.cpu_count() or 1, limit) if can_start_processes() else 1


def process_pool(workers: int, start: Literal["fork", "spawn"] = "fork") -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, forked (default) or spawned.

    Use it as a context manager: the processes end with the ``with`` block.
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(start))


__all__ = ["can_start_processes", "local_cores", "process_pool"]
