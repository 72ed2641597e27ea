"""Run a notebook top to bottom in a fresh kernel, robustly, and measure it.

Used by ``radnb course grade`` (student submissions), by the notebook tests and
by ``benchmarks/curriculum.py``. Unlike a plain ``nbclient`` run it

* keeps going after a cell raises (the error is recorded),
* gives the whole notebook one time budget and interrupts the cell that is
  running when the budget is spent (the rest of the notebook still runs, each
  remaining cell with a short allowance),
* survives a cell that kills the kernel: the kernel is restarted, the
  notebook re-run from the top without that cell,
* records wall time and the peak resident memory of the kernel (and its
  child processes).

Examples
--------
>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0"), nbformat.v4.new_code_cell("x = 2")])
>>> report = run_notebook(nb, timeout=60)
>>> [e.ename for e in report.errors], report.dead_cells
(['ZeroDivisionError'], [])
"""
from __future__ import annotations

import copy
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import nbformat

PathLike = Union[str, Path]


@dataclass
class CellError:
    """An error raised by one cell (``index`` counts all cells of the notebook, from 0)."""

    index: int
    ename: str
    evalue: str
    timed_out: bool = False

    def __str__(self) -> str:
        if self.timed_out:
            return f"cell {self.index + 1} was stopped: it was still running when the time limit was reached"
        return f"cell {self.index + 1} raised {self.ename}: {self.evalue}"


@dataclass
class RunReport:
    """What happened when a notebook ran."""

    notebook: nbformat.NotebookNode
    errors: List[CellError] = field(default_factory=list)
    dead_cells: List[int] = field(default_factory=list)
    timed_out: bool = False
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    restarts: int = 0
    #: seconds each code cell took, by cell index (the last attempt's run)
    cell_seconds: Dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.dead_cells and not self.timed_out


class _MemorySampler(threading.Thread):
    """Samples the resident memory of a process and its children every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            try:
                total = proc.memory_info().rss
                for child in proc.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak / 2**20


def _kernel_pid(client) -> Optional[int]:
    prov = getattr(client.km, "provisioner", None)
    pid = getattr(prov, "pid", None)
    if pid is None:
        proc = getattr(prov, "process", None)
        pid = getattr(proc, "pid", None)
    return pid


def _error_of(cell) -> Optional[tuple]:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def run_notebook(
    nb: Union[nbformat.NotebookNode, PathLike],
    *,
    timeout: float = 600,
    final_cells: int = 0,
    final_timeout: float = 120,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[PathLike] = None,
    kernel_name: str = "python3",
    max_restarts: int = 3,
) -> RunReport:
    """Execute ``nb`` in a fresh kernel and report errors, time and memory.

    Parameters
    ----------
    nb
        A notebook or a path to one (not modified; the executed copy is in the report).
    timeout
        Seconds for the whole notebook (all but the ``final_cells``).
    final_cells
        How many cells at the end get their own allowance, ``final_timeout``
        seconds (the grader's injected check cell runs even when the student's
        cells used up the budget).
    env
        Extra environment variables for the kernel.
    cwd
        Working directory of the kernel (default: the notebook's folder, or the current one).
    max_restarts
        How many kernel deaths to survive (each restart skips the cell that killed it).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    if not isinstance(nb, nbformat.NotebookNode):
        path = Path(nb)
        nb = nbformat.read(str(path), as_version=4)
        cwd = cwd or path.parent
    source = copy.deepcopy(nb)
    kernel_env = dict(os.environ)
    kernel_env.update(env or {})
    kernel_env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    cwd = str(cwd or os.getcwd())

    skipped: List[int] = []
    report = RunReport(notebook=source)
    start = time.perf_counter()
    peak = 0.0
    first_final = len(source.cells) - final_cells
    for attempt_no in range(max_restarts + 1):
        work = copy.deepcopy(source)
        client = NotebookClient(work, timeout=int(timeout), kernel_name=kernel_name, allow_errors=True,
                                interrupt_on_timeout=True, record_timing=False, resources={"metadata": {"path": cwd}})
        attempt, died, sampler = _Attempt(), False, None
        try:
            with client.setup_kernel(env=kernel_env):
                pid = _kernel_pid(client)
                if pid:
                    sampler = _MemorySampler(pid)
                    sampler.start()
                _execute_cells(client, work.cells, pid, skipped, first_final, start + timeout, final_timeout, attempt)
        except DeadKernelError:
            died = True
        finally:
            if sampler is not None:
                peak = max(peak, sampler.stop())
        if not died:
            report = RunReport(work, attempt.errors, skipped, attempt.timed_out, 0.0, 0.0, attempt_no,
                               attempt.cell_seconds)
            break
        skipped.append(attempt.index)
        report = RunReport(work, attempt.errors, list(skipped), attempt.timed_out, 0.0, 0.0, attempt_no)
        if attempt.index >= first_final:  # the caller's own final cell: re-running the student's cells would not help
            break
        report.restarts = attempt_no + 1
    report.wall_s = round(time.perf_counter() - start, 2)
    report.peak_rss_mb = round(peak, 1)
    return report


@dataclass
class _Attempt:
    """What one kernel's run of the cells produced, filled in as it goes (a kernel death keeps it)."""

    errors: List[CellError] = field(default_factory=list)
    cell_seconds: Dict[int, float] = field(default_factory=dict)
    timed_out: bool = False
    index: int = -1  # the cell running (or last run)
    final_deadline: Optional[float] = None


def _execute_cells(client, cells, pid: Optional[int], skipped: List[int], first_final: int, deadline: float,
                   final_timeout: float, attempt: _Attempt) -> None:
    """Run the code cells in order within the budget; errors and timings go to ``attempt``."""
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        attempt.index = index
        if index in skipped:
            cell.outputs = []
            continue
        allowance = _allowance(attempt, index, first_final, deadline, final_timeout)
        client.timeout = int(allowance) + 1
        t0 = time.perf_counter()
        with _kill_after(pid, allowance + 20):
            try:
                client.execute_cell(cell, index)
            finally:
                attempt.cell_seconds[index] = round(time.perf_counter() - t0, 3)
        err = _error_of(cell)
        if err is not None:
            was_timeout = err[0] in ("TimeoutError", "KeyboardInterrupt") and time.perf_counter() - t0 >= allowance - 0.5
            if was_timeout and index < first_final:
                attempt.timed_out = True
            attempt.errors.append(CellError(index, err[0], err[1], timed_out=was_timeout))


def _allowance(attempt: _Attempt, index: int, first_final: int, deadline: float, final_timeout: float) -> float:
    """Seconds the cell may run: what is left of the notebook's budget, or of the final cells' own."""
    now = time.perf_counter()
    if index >= first_final:
        if attempt.final_deadline is None:
            attempt.final_deadline = now + final_timeout
        remaining = attempt.final_deadline - now
    else:
        remaining = deadline - now
    # a cell whose turn comes after the budget is spent still gets a short allowance,
    # so function definitions further down are not lost
    return max(remaining, 3.0)


@contextmanager
def _kill_after(pid: Optional[int], seconds: float):
    """Last resort for code that ignores the interrupt: kill the kernel after ``seconds``."""
    killer = None
    if pid:
        killer = threading.Timer(seconds, _kill, args=(pid,))
        killer.daemon = True
        killer.start()
    try:
        yield
    finally:
        if killer is not None:
            killer.cancel()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
