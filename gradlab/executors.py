"""Where sweep runs execute: a local process pool, or a dask.distributed cluster.

Both hand back ``concurrent.futures`` executors, so the sweep loop is one piece of code. The task is
``execute(config_json)``: it rebuilds the config, runs it with BLAS pinned to one thread (so that N workers
really use N cores, and a run's numbers never depend on how many threads it got), and returns the result
or the error as a value, never raising, so one bad run cannot take the sweep down.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait

from .errors import UsageError

CONNECT_TIMEOUT_S = 10.0
ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9a-fA-F:.]+\]|[\w.-]+):\d{1,5}")
LOST_WORKER_RETRIES = 1  # see DaskExecutor


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


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what to do with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="gradlab-exit-with-parent", daemon=True).start()


def _exit_with_parent() -> None:
    """End this worker as soon as the sweep that spawned it is gone, even by SIGKILL, which runs no cleanup.

    Left alone, an orphan would wait forever on the task queue, whose pipe it holds open itself. A spawned
    child holds the read end of a pipe whose write end only its parent holds; the kernel closes that end
    when the parent dies, however it dies, so join() returns then, with no polling and no delay, and at once
    if the parent died while this worker was starting. Not prctl(PR_SET_PDEATHSIG): Linux only, set too late
    to cover the start, and it fires when the parent *thread* that spawned the worker ends, not the process.
    Once the workers are gone, the resource tracker sees its own pipe close and exits (and unlinks the
    pool's semaphores).
    """
    multiprocessing.parent_process().join()
    os._exit(1)


def cores() -> int:
    """The cores this process may use: its CPU affinity (what taskset or a container allows), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_executor(workers: int) -> Executor:
    """A process pool of ``workers``. Spawned, not forked: the parent may run a progress thread, and forking
    a threaded process can deadlock."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)


def stop_now(executor: Executor) -> None:
    """Cancel what has not started and end the workers without waiting for running tasks (on Ctrl-C)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # before shutdown, which forgets them: older Pythons have no public way to end running workers
    pool = hasattr(executor, "_processes")
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    if pool:  # even with no worker left to end (a signal to the whole group killed them): let the pool's manager
        # thread close its wakeup pipe before the interpreter exits, or the exit hook writes to it once closed
        executor.shutdown(wait=True)


class DaskExecutor:
    """Runs on a dask.distributed cluster through a client, closed with the executor.

    A worker lost mid-run costs time, not a run: the scheduler reruns its tasks elsewhere. But it blames
    every task the worker held, even one queued there and never started, and once a task has been held by
    more dying workers than ``distributed.scheduler.allowed-failures`` (3 by default; some clusters set 0)
    it gives up on it with KilledWorker. A run is pure and costs only its time to redo, so a run given up
    that way is submitted afresh, LOST_WORKER_RETRIES times: a run blamed for a lost machine finishes, and a
    run that really kills its workers (out of memory) still ends as a failed run, after a bounded number of
    deaths. (No check for a worker to redo it: without one, every other run waits for workers too.)
    """

    def __init__(self, address: str, timeout: float = CONNECT_TIMEOUT_S):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs dask.distributed: pip install 'gradlab[dask]'") from None
        if not ADDRESS.fullmatch(address):  # distributed raises its own ValueError, or waits, on a malformed one
            raise UsageError(f"--scheduler {address!r}: not a scheduler address; give one like tcp://HOST:PORT "
                             f"(as `dask scheduler` prints it)")
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
        self._pending: set[Future] = set()
        self._closing = False

    def submit(self, fn, *args) -> Future:
        run = Future()
        self._pending.add(run)
        run.add_done_callback(self._pending.discard)
        self._attempt(run, fn, args, LOST_WORKER_RETRIES)
        return run

    def _attempt(self, run: Future, fn, args, retries: int) -> None:
        from distributed import KilledWorker

        def settle(attempt: Future) -> None:  # on the client's event loop: nothing here may block
            if attempt.cancelled():
                if run.cancel():
                    run.set_running_or_notify_cancel()  # wakes wait() on it
            elif isinstance(attempt.exception(), KilledWorker) and retries and not self._closing:
                self._attempt(run, fn, args, retries - 1)
            elif attempt.exception() is not None:
                run.set_exception(attempt.exception())
            else:
                run.set_result(attempt.result())

        self.executor.submit(fn, *args).add_done_callback(settle)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        if wait and not cancel_futures:
            futures_wait(list(self._pending))  # the runs, not the attempts: a retry may still be on its way
        self._closing = True
        self.executor.shutdown(wait=False)  # cancels what is left
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown(wait=False)
