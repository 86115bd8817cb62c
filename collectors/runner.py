"""The one way collectors start a process: timeout, process-group kill, captured output.

Every analyzer runs through :func:`run_process`. A process that cannot start, outlives its
timeout, or dies from a signal raises :class:`ToolFailed` with a one-line reason; deciding
whether an exit code means "found issues" or "crashed" is each adapter's job (see
:func:`check_exit`), because linters exit non-zero when they find problems.

Each process runs in its own session, so that a timeout kills the tool's whole tree (bandit's
and the complexity worker's pools included). That also keeps a terminal's Ctrl-C away from
them: an entry point that is interrupted calls :func:`kill_all_processes`, which kills every
group still running and refuses new ones, so it stops within moments instead of waiting up to
the timeout for each running analyzer; :func:`allow_processes` lifts the refusal.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from shutil import which

from storage.connection import allow_waiting, stop_waiting

__all__ = [
    "ProcessResult",
    "ToolFailed",
    "allow_processes",
    "check_exit",
    "kill_all_processes",
    "one_line",
    "processes_stopped",
    "resolve_executable",
    "run_process",
    "tool_version",
]


class ToolFailed(Exception):
    """One analyzer could not give a result; ``reason`` is one line for a person.

    Never leaves ``collectors``: the pipeline turns it into a ``failed`` tool record.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """A finished process: its argv, exit code, output and wall time."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


def one_line(text: str, limit: int = 200) -> str:
    """The most telling line of an error output (its last non-empty line), shortened."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def resolve_executable(name: str, overrides: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The argv prefix that starts tool ``name``.

    An override (a test's fake script, or a configured path) wins; then the executable next to
    the running interpreter (our virtual environment's pinned tools); then ``PATH``. When none
    exists the bare name is returned and starting it fails as "not found".
    """
    if name in overrides:
        return tuple(overrides[name])
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside),)
    found = which(name)
    return (found,) if found else (name,)


_INTERRUPTED = "interrupted (process group killed)"


class _Running:
    """The processes :func:`run_process` is waiting for, so that an interrupt can kill them."""

    def __init__(self) -> None:
        # Re-entrant: the signal handler that calls kill_all_processes runs in the main thread,
        # possibly while that thread holds the lock in add or discard.
        self.lock = threading.RLock()
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.stopped = False

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.procs.add(proc)
            stopped = self.stopped
        if stopped:  # started just as everything was killed: it goes too
            _signal_group(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self) -> None:
        with self.lock:
            self.stopped = True
            procs = list(self.procs)
        for proc in procs:
            if proc.returncode is None:  # once reaped, its pid may be someone else's
                _signal_group(proc)


_RUNNING = _Running()


def kill_all_processes() -> None:
    """Kill the process group of every process :func:`run_process` waits for, and refuse new ones.

    For an interrupt (callable from a signal handler): each waiting :func:`run_process` then
    raises :class:`ToolFailed`, and so does every later call until :func:`allow_processes`.
    """
    _RUNNING.kill_all()
    stop_waiting()  # a job waiting for the database lock ends too


def processes_stopped() -> bool:
    """True after :func:`kill_all_processes` until :func:`allow_processes`: results are cut short."""
    return _RUNNING.stopped


def allow_processes() -> None:
    """Let :func:`run_process` start processes again after :func:`kill_all_processes`."""
    with _RUNNING.lock:
        _RUNNING.stopped = False
    allow_waiting()


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` in its own session; kill the whole group on timeout.

    Raises :class:`ToolFailed` when the program is missing, not executable, times out, or is
    killed by a signal, and after :func:`kill_all_processes`. Output is decoded as UTF-8 with
    replacement, never raising.
    """
    args = tuple(argv)
    if _RUNNING.stopped:
        raise ToolFailed(_INTERRUPTED)
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group, so a timeout kills children too
        )
    except FileNotFoundError:
        raise ToolFailed(f"{args[0]} not found (is it installed?)") from None
    except PermissionError:
        raise ToolFailed(f"{args[0]} is not executable") from None
    except OSError as error:
        raise ToolFailed(f"{args[0]} could not start: {error}") from None
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolFailed(f"timed out after {timeout_s:g} s (process group killed)") from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        _RUNNING.discard(proc)
    duration = time.perf_counter() - started
    if proc.returncode < 0 and _RUNNING.stopped:
        raise ToolFailed(_INTERRUPTED)
    if proc.returncode < 0:
        name = _signal_name(-proc.returncode)
        detail = one_line(err.decode("utf-8", "replace"))
        raise ToolFailed(f"killed by {name}" + (f": {detail}" if detail else ""))
    return ProcessResult(
        argv=args,
        returncode=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        duration_s=duration,
    )


def _signal_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own just now
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc)
    proc.communicate()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def check_exit(result: ProcessResult, ok_codes: Collection[int], tool: str) -> None:
    """Raise :class:`ToolFailed` unless the exit code is one ``tool`` uses for a normal run."""
    if result.returncode in ok_codes:
        return
    detail = one_line(result.stderr) or one_line(result.stdout) or "no output"
    raise ToolFailed(f"{tool} exited with code {result.returncode}: {detail}")


_VERSION = re.compile(r"\d+(?:\.\d+)+\S*")


@functools.lru_cache(maxsize=64)
def _cached_version(prefix: tuple[str, ...], cwd: str, timeout_s: float) -> str:
    result = run_process([*prefix, "--version"], cwd=Path(cwd), timeout_s=timeout_s)
    text = result.stdout.strip() or result.stderr.strip()
    if result.returncode != 0 or not text:
        raise ToolFailed(f"{prefix[-1]} --version failed: {one_line(result.stderr) or 'no output'}")
    match = _VERSION.search(text.splitlines()[0])
    return match.group(0) if match else one_line(text, 80)


def tool_version(prefix: Sequence[str], *, cwd: Path, timeout_s: float = 60.0) -> str:
    """The version of the tool started by ``prefix`` (``PREFIX --version``), cached per prefix."""
    return _cached_version(tuple(prefix), str(cwd), timeout_s)
