"""Independent jobs on a local pool of worker processes, one CPU thread each.

On a small CPU, torch's many tiny operations scale poorly across threads: two one-thread processes
trained two lab encoders in 77 s where one two-thread process took 104 s for both (1.35×), and
probe training gained ~1.7×. A job is a module-level function and its arguments (so a spawned
process can import it); results come back in submission order. ``workers <= 1`` runs every job
inline, in this process, which is what tests and debuggers want.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

WORKERS_ENV = "SPATIALPROBE_WORKERS"


@dataclass(frozen=True)
class Job:
    fn: Callable
    kwargs: dict = field(default_factory=dict)
    name: str = ""


def default_workers() -> int:
    """``$SPATIALPROBE_WORKERS``, else one per CPU core (at most 2: the lab's jobs are memory-light but CPU-bound)."""
    value = os.environ.get(WORKERS_ENV)
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"${WORKERS_ENV}: expected an integer, got {value!r}") from None
    return max(1, min(2, os.cpu_count() or 1))


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Set for the workers before they start: a BLAS pool sized at import (numpy's, torch's) is not
shrunk later, and two workers whose pools each spin on both cores run at half speed."""


def _init(threads: int, parent: int) -> None:
    import signal
    import threading
    import time

    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def orphaned() -> None:  # a parent killed outright (SIGKILL) must not leave workers training for minutes
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()


def run(jobs: Iterable[Job], workers: int | None = None, threads: int = 1, done: Callable[[Job, object], None] | None = None,
        waiting: Callable[[float], None] | None = None, every: float = 30.0) -> list:
    """Run ``jobs``; ``done(job, result)`` is called as each finishes, ``waiting(seconds so far)``
    every ``every`` seconds in which none did (a pool's heartbeat). An exception in a job cancels
    the rest and is raised here (Ctrl-C too)."""
    jobs = list(jobs)
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(job.fn(**job.kwargs))
            if done is not None:
                done(job, out[-1])
        return out
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: str(threads) for k in THREAD_VARS})  # inherited by the spawned workers
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"), initializer=_init, initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(job.fn, **job.kwargs): i for i, job in enumerate(jobs)}
        results: dict[int, object] = {}
        pending = set(futures)
        start = time.perf_counter()
        while pending:
            finished, pending = wait(pending, timeout=every if waiting else None, return_when=FIRST_COMPLETED)
            if not finished and waiting is not None:
                waiting(time.perf_counter() - start)
            for future in finished:
                i = futures[future]
                results[i] = future.result()  # raises the job's exception
                if done is not None:
                    done(jobs[i], results[i])
        return [results[i] for i in range(len(jobs))]
    except BaseException:  # a failed job, Ctrl-C or SIGTERM: stop the running jobs too, not only the queued ones
        for process in list((pool._processes or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
