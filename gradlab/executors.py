"""Where sweep runs execute: a local process pool, or a dask.distributed cluster.

Both hand back ``concurrent.futures`` executors, so the sweep loop is one piece of code. The task is
``execute(config_json)``: it rebuilds the config, runs it with BLAS pinned to one thread (so that N workers
really use N cores, and a run's numbers never depend on how many threads it got), and returns the result
or the error as a value, never raising, so one bad run cannot take the sweep down.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor

from .errors import UsageError

CONNECT_TIMEOUT_S = 10.0


def execute(config_json: str):
    """Run one experiment; ``("ok", RunResult)`` or ``("failed", "ErrorType: message")``."""
    try:
        from threadpoolctl import threadpool_limits

        from .config import ExperimentConfig
        from .experiment import run_experiment

        config = ExperimentConfig.model_validate_json(config_json)
        with threadpool_limits(limits=1):
            return "ok", run_experiment(config)
    except Exception as exc:  # noqa: BLE001 - a failed run is a row in the summary, not a crash
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "failed", f"{type(exc).__name__}: {exc} (at {os.path.basename(where.filename)}:{where.lineno})"


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what to do with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_executor(workers: int) -> Executor:
    """A process pool of ``workers``. Spawned, not forked: the parent may run a progress thread, and forking
    a threaded process can deadlock."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_sigint)


def stop_now(executor: Executor) -> None:
    """Cancel what has not started and end the workers without waiting for running tasks (on Ctrl-C)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # before shutdown, which forgets them: older Pythons have no public way to end running workers
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    if processes:  # let the pool's manager thread see them gone and close its pipe before the interpreter exits
        executor.shutdown(wait=True)


class DaskExecutor:
    """A dask.distributed client's executor, closing the client with it."""

    def __init__(self, address: str, timeout: float = CONNECT_TIMEOUT_S):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs dask.distributed: pip install 'gradlab[dask]'") from None
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the dask scheduler at {address} within {timeout:g} s ({exc}); "
                             f"start one with `dask scheduler` and check the address") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.client.close()
            raise UsageError(f"the dask scheduler at {address} has no workers after {timeout:g} s; "
                             f"start some with `dask worker {address}`") from None
        self.executor = self.client.get_executor(pure=False)

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.executor.shutdown(wait=wait)
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown(wait=False)
