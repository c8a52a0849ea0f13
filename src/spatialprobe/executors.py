"""Where a plan's independent steps run: ``local`` (this machine's worker pool, `spatialprobe.workers`),
``ray`` (a Ray cluster: ``$RAY_ADDRESS`` / ``address=…``, else a local Ray started for the run) or
``slurm`` (Slurm job arrays through submitit; ``cluster=local`` runs submitit's local executor).

Every executor runs the same unit — a `workers.Job`, one step writing only its own folder — with
``threads`` torch threads, so results are identical to a sequential run; the remote ones need the
run folder and the caches on a filesystem every node sees. ``options`` (``--executor-option
KEY=VALUE``) go to ``ray.init`` or to submitit's ``update_parameters`` (``timeout_min``,
``slurm_partition``, ``gpus_per_node``, …), which refuse names they do not know before any job starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from spatialprobe import workers as local
from spatialprobe.workers import Job

EXECUTORS = ("local", "ray", "slurm")


class ExecutorError(RuntimeError):
    """An executor that cannot start here; the message says what to install or set."""


def call(fn: Callable, kwargs: dict, threads: int):
    """A job on a remote worker, with the run's thread count (as the local pool's workers have)."""
    import torch

    for name in local.THREAD_VARS:
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)
    return fn(**kwargs)


def check(executor: str, options: dict | None = None) -> None:
    """Refuse an unknown executor, a missing extra or an option it does not take — before any work."""
    options = dict(options or {})
    if executor not in EXECUTORS:
        from spatialprobe.registry import nearest

        near = nearest(executor, EXECUTORS)
        raise ExecutorError(f"--executor {executor!r}: unknown" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(EXECUTORS)})")
    if executor == "local" and options:
        raise ExecutorError(f"--executor-option {', '.join(options)}: the local pool takes none (use --workers, --threads)")
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: pip install 'spatialprobe[ray]'") from None
    if executor == "slurm":
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            _submitit(options, folder, workers=1, threads=1)


def run(jobs: Iterable[Job], executor: str = "local", workers: int | None = None, threads: int = 1, done: Callable | None = None,
        waiting: Callable | None = None, options: dict | None = None, folder: str | Path | None = None) -> list:
    """Run ``jobs`` on ``executor``; the results in submission order, ``done(job, result)`` as each
    finishes, ``waiting(seconds)`` while none does. A failed job cancels the rest and is raised here."""
    jobs, options = list(jobs), dict(options or {})
    check(executor, options)
    if executor == "local":
        return local.run(jobs, workers, threads, done, waiting)
    if not jobs:
        return []
    return (_ray if executor == "ray" else _slurm)(jobs, workers or local.default_workers(), threads, done, waiting, options, folder)


def _collect(jobs: list[Job], handles: list, finished: Callable, result: Callable, cancel: Callable, done, waiting, every: float = 30.0) -> list:
    """Poll ``handles`` (one per job) until all finished, reporting each as it does."""
    results, pending, start, last = {}, set(range(len(jobs))), time.perf_counter(), time.perf_counter()
    try:
        while pending:
            ready = [i for i in sorted(pending) if finished(handles[i])]
            for i in ready:
                results[i] = result(handles[i])  # raises the job's exception
                pending.discard(i)
                last = time.perf_counter()
                if done is not None:
                    done(jobs[i], results[i])
            if not ready:
                if waiting is not None and time.perf_counter() - last >= every:
                    waiting(time.perf_counter() - start)
                    last = time.perf_counter()
                time.sleep(0.2)
        return [results[i] for i in range(len(jobs))]
    except BaseException:
        for i in pending:
            cancel(handles[i])
        raise


def _ray(jobs, workers, threads, done, waiting, options, folder) -> list:
    import ray

    started = not ray.is_initialized()
    if started:
        address = options.pop("address", None) or os.environ.get("RAY_ADDRESS")
        cpus = {} if address else {"num_cpus": workers * threads}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **cpus, **options)
        except (TypeError, ValueError, ConnectionError) as err:
            raise ExecutorError(f"--executor ray: ray.init failed ({err})") from None
    try:
        remote = ray.remote(num_cpus=threads, max_retries=0)(call)
        refs = [remote.remote(job.fn, job.kwargs, threads) for job in jobs]

        def result(ref):
            try:
                return ray.get(ref)
            except ray.exceptions.RayTaskError as err:
                raise err.as_instanceof_cause() from None

        return _collect(jobs, refs, lambda ref: bool(ray.wait([ref], timeout=0)[0]), result, lambda ref: ray.cancel(ref, force=True), done, waiting)
    finally:
        if started:
            ray.shutdown()


def _submitit(options: dict, folder, workers: int, threads: int):
    """A submitit executor with the run's parameters (``cluster``: ``slurm`` unless
    ``$SPATIALPROBE_SUBMITIT_CLUSTER`` or the options say otherwise, e.g. ``local``)."""
    try:
        import submitit
    except ImportError:
        raise ExecutorError("--executor slurm needs submitit: pip install 'spatialprobe[slurm]'") from None
    options = dict(options)
    cluster = options.pop("cluster", os.environ.get("SPATIALPROBE_SUBMITIT_CLUSTER", "slurm"))
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        executor.update_parameters(**{"timeout_min": 24 * 60, "cpus_per_task": threads, "slurm_array_parallelism": workers, **options})
    except (ValueError, TypeError, NameError, RuntimeError) as err:
        raise ExecutorError(f"--executor slurm: {err}") from None
    return executor


def _slurm(jobs, workers, threads, done, waiting, options, folder) -> list:
    executor = _submitit(options, folder, workers, threads)
    with executor.batch():  # one job array on Slurm
        handles = [executor.submit(call, job.fn, job.kwargs, threads) for job in jobs]
    return _collect(jobs, handles, lambda job: job.done(), lambda job: job.result(), lambda job: job.cancel(check=False), done, waiting)
