"""Run sweep tasks on a local process pool or an existing Ray cluster.

Both call ``on_row`` in the calling process for each finished task, in completion order. A task
that fails gives a row with its error (see :func:`~bybit_mm.sweep.task.run_task`); a worker
that dies gives one too, and the sweep goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from bybit_mm.errors import UsageError
from bybit_mm.sweep.task import Task, failed_row, run_task

OnRow = Callable[[dict[str, Any]], None]

CLUSTER_EXTRA = "pip install 'bybit-mm[cluster]'"


def cpu_count() -> int:
    """The CPUs this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_local(tasks: Sequence[Task], workers: int, on_row: OnRow) -> None:
    """``tasks`` on a pool of ``workers`` processes (tasks go out in order: those on the same
    data set follow each other, so a worker reuses the data it loaded)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if not tasks:
        return
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))))
    try:
        pending = {pool.submit(run_task, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    row = failed_row(task, "worker process died (out of memory or killed)")
                except Exception as e:
                    row = failed_row(task, f"{type(e).__name__}: {e}")
                on_row(row)
    except BaseException:
        # Ctrl-C or a failing on_row: drop the queued tasks instead of running them all first.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_ray(tasks: Sequence[Task], address: str, on_row: OnRow) -> None:
    """``tasks`` on the Ray cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``),
    one CPU each. The cluster's workers need bybit-mm installed and the data paths readable.
    Connects unless this process is already connected to a Ray instance."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray-address needs Ray, which is not installed",
                         hint=f"install the cluster extra: {CLUSTER_EXTRA}") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    pending = {remote.remote(t): t for t in tasks}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as e:  # the worker died, the node was lost
                    row = failed_row(task, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                on_row(row)
    except BaseException:
        for ref in pending:  # Ctrl-C: the cluster stops the rest
            ray.cancel(ref)
        raise
