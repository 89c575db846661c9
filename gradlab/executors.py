"""Where sweep runs execute: a local process pool, or a dask.distributed cluster.

Both hand back ``concurrent.futures`` executors, so the sweep loop is one piece of code. The task is
``execute(config_json)``: it rebuilds the config, runs it with BLAS pinned to one thread (so that N workers
really use N cores, and a run's numbers never depend on how many threads it got), and returns the result
or the error as a value, never raising, so one bad run cannot take the sweep down. A local worker that dies
fails the runs it held as values too, saying how it died (LocalPool).
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import re
import signal
import sys
import threading
import tokenize
import traceback
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_for
from typing import Optional

from . import cpus
from .errors import UsageError

CONNECT_TIMEOUT_S = 10.0
ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9a-fA-F:.]+\]|[\w.-]+):\d{1,5}")
LOST_WORKER_RETRIES = 1  # see DaskExecutor
JOIN_DEAD_S = 5.0  # at most, for a dead worker's exit status (see LocalPool.death)


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
    """The cores this process may use: its CPU affinity (what taskset or a container's cpuset allows), capped by
    the cgroup's CPU quota (a container's ``--cpus``), not the machine's (gradlab.cpus)."""
    return cpus.usable()


def idle_cores() -> int:
    """One run's BLAS threads: the usable cores (``cores``), at most as many as other processes leave idle now,
    at least one.

    On an idle machine every core helps (two threads take 0.64–0.77 of one thread's step at widths 128–512 on
    two cores), but a thread that lands on a core another process holds makes every multiply wait for it (81 ms
    a step against 20 ms on one thread, two cores, one busy). The load is sampled over 0.1 s (``cpus.busy``):
    the 1-minute load average, the fallback where /proc/stat is not there, lags a new competitor by a minute."""
    mine = cpus.affinity()
    busy = cpus.busy(mine)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): assume an idle machine
            busy = 0.0
    return max(1, min(cores(), len(mine) - int(busy + 0.5)))


def local_executor(workers: int) -> Executor:
    """A process pool of ``workers``. Spawned, not forked: the parent may run a progress thread, and forking
    a threaded process can deadlock. Refused (check_main_guard) where the workers would start the sweep again."""
    check_main_guard()
    return LocalPool(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)


class LocalPool(ProcessPoolExecutor):
    """A process pool whose runs end as values even when a worker dies.

    A worker that dies (killed, crashed, or unable to start) breaks the whole pool, and every run it still
    held fails with BrokenProcessPool, which tells nothing of why. Here those runs end as ``("failed", why)``,
    ``why`` read from how the dead worker ended: killed by SIGKILL (the out-of-memory killer, or a person),
    another signal (a crash), or an exit status (an error before it could run, printed on its stderr).

    ``writes_runs``: its workers share this machine's disk, and stop_now ends them, so a sweep lets each write
    the runs it ran (gradlab.sweep.run_into) rather than send them back to the parent to write: the parent's
    serial work per run stays small, and writing, the larger part of a run's cost outside training, is done
    in parallel.
    """

    writes_runs = True

    def submit(self, fn, /, *args, **kwargs) -> Future:
        run = Future()

        def settle(attempt: Future) -> None:  # on the pool's manager thread, before it ends the other workers
            if attempt.cancelled():
                if run.cancel():
                    run.set_running_or_notify_cancel()  # wakes wait() on it
            elif isinstance(attempt.exception(), BrokenProcessPool):
                run.set_result(("failed", self.death()))
            elif attempt.exception() is not None:
                run.set_exception(attempt.exception())
            else:
                run.set_result(attempt.result())

        super().submit(fn, *args, **kwargs).add_done_callback(settle)
        return run

    def death(self) -> str:
        """How the pool's dead workers ended, in words (the pool's own record of its workers is all there is)."""
        workers = list((getattr(self, "_processes", None) or {}).values())
        dead = set(wait_for([p.sentinel for p in workers], timeout=0))
        codes = set()
        for process in workers:
            if process.sentinel in dead:
                process.join(JOIN_DEAD_S)  # its pipe closes as it exits, a moment before its exit status is there
                codes.add(process.exitcode)
        return "; ".join(worker_death(code) for code in sorted(codes - {None})) or worker_death(None)


def worker_death(exitcode: Optional[int]) -> str:
    """A dead worker's exit code in words: a negative one is the signal that ended it."""
    if exitcode is None:
        return "a worker process died (killed, or crashed)"
    if exitcode == -getattr(signal, "SIGKILL", 9):  # 9 everywhere; Windows has no name for it
        return "a worker process was killed with SIGKILL (out of memory, or killed by hand)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"a worker process died of {name}"
    return f"a worker process exited with status {exitcode} before finishing its runs (its error output says why)"


MAIN_GUARD = 'sweep workers re-import your script: put the sweep under `if __name__ == "__main__":`'


def check_main_guard() -> None:
    """Refuse, with a UsageError naming the line, to start workers from a script's unguarded top level.

    A spawned worker is a fresh interpreter that first imports the script that started the sweep again (as
    ``__mp_main__``, so that what the script defines can be unpickled there): the script's top-level code runs
    once more in every worker. Unguarded, that code starts the sweep again inside the worker, which
    multiprocessing refuses ("An attempt has been made to start a new process before the current process
    has finished its bootstrapping phase"), so every worker dies before its first run and every run fails.
    Said here, once, before any worker starts. What multiprocessing does not import again needs no guard: a
    package's ``__main__`` (``python -m gradlab``, the ``gradlab`` command), ``python -c``, a notebook, the
    interactive prompt, or a script whose top level has finished.
    """
    site = _unguarded_site()
    if site is not None:
        raise UsageError(f"{site[0]}:{site[1]}: {MAIN_GUARD}")


def _unguarded_site() -> Optional[tuple[str, int]]:
    """``(script, line)`` where the running script's top level, outside a ``__main__`` guard, led here; else None."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    path = getattr(main, "__file__", None)
    # the cases multiprocessing.spawn leaves alone (see its _fixup_main_from_name and _fixup_main_from_path)
    if not path or (name is not None and name.split(".")[-1] == "__main__") or \
            os.path.splitext(os.path.basename(path))[0] == "ipython":
        return None
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return None
    try:
        with tokenize.open(path) as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None  # no source to read: then multiprocessing's own error tells it, from the worker
    if _guarded(tree.body, frame.f_lineno):
        return None
    shown = os.path.relpath(path) if os.path.abspath(path).startswith(os.getcwd() + os.sep) else path
    return shown, frame.f_lineno


def _guarded(body: list, line: int) -> bool:
    """Whether ``line`` is in a branch that only the main process takes: the body of ``if __name__ ==
    "__main__":`` (or the else of ``!=``), among the statements ``body`` or in any block nested in them."""
    for node in body:
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        if isinstance(node, ast.If) and (op := _main_test(node.test)):
            branch = node.body if op == "==" else node.orelse
            if any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in branch):
                return True
        return any(_guarded(block, line) for block in _blocks(node))
    return False


def _main_test(test: ast.expr) -> Optional[str]:
    """``==`` or ``!=`` for a test of ``__name__`` against ``"__main__"`` (either way round); else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.NotEq))):
        return None
    sides = {ast.dump(test.left), ast.dump(test.comparators[0])}
    if sides != {ast.dump(ast.Name("__name__", ast.Load())), ast.dump(ast.Constant("__main__"))}:
        return None
    return "==" if isinstance(test.ops[0], ast.Eq) else "!="


def _blocks(node: ast.AST):
    """The statement lists nested in a statement: bodies, else and finally blocks, except handlers, match cases."""
    for _, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value
        elif isinstance(value, list):
            yield from (item.body for item in value if isinstance(item, (ast.excepthandler, ast.match_case)))


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
