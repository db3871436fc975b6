"""Reusable pieces of the side-by-side benchmarks: environments, servers, measurements, tables.

The benchmarks compare moorline against an anchor (MLflow, Evidently, BentoML) on this
kind of machine: 2 shared cores where absolute numbers drift by up to 40% between runs.
So everything here serves three habits:

* each anchor runs from its own virtualenv, created on demand under ``benchmarks/.envs/``,
  so its pinned version never fights moorline's dependencies;
* a server's cost is read from the kernel, not guessed from wall time: the user + system CPU
  time of the server's whole process tree (``/proc/PID/stat``) before and after each
  operation, and its resident memory sampled in a background thread;
* anchor and moorline run interleaved (A, B, A, B, ...) and each figure is reported as
  min / median / max over rounds, next to the per-round ratio moorline / anchor.

Only the standard library is used, so the benchmark runs from any interpreter.
Linux-only: it reads ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# --------------------------------------------------------------------------------------
# Virtual environments
# --------------------------------------------------------------------------------------

_STAMP = ".bench-installed"


REPO = Path(__file__).resolve().parent.parent


def git_revision() -> str | None:
    """The repository's HEAD commit, recorded with every result (None outside git)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def ensure_venv(path: Path, requirements: Sequence[str], *, python: str | None = None) -> Path:
    """Create the virtualenv at ``path`` with ``requirements`` installed; return its python.

    Idempotent: a stamp file records the requirement list that was installed, so a second
    call is instant and a changed list (say a new anchor version) reinstalls. The venv is
    built from the base interpreter, never from another venv, so it shares nothing with
    the project's own environment.
    """
    venv_python = path / "bin" / "python"
    stamp = path / _STAMP
    wanted = "\n".join(requirements) + "\n"
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    if not venv_python.exists():
        print(f"[harness] creating virtualenv {path}", flush=True)
        subprocess.run([base, "-m", "venv", str(path)], check=True)
    print(f"[harness] installing {' '.join(requirements)} into {path}", flush=True)
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", *requirements],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    stamp.write_text(wanted)
    return venv_python


# --------------------------------------------------------------------------------------
# Ports and process trees
# --------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The kernel picks it (bind to port 0); there is a small window before the server binds
    it, which is acceptable for a benchmark that starts its servers one after another.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name, or None if the process is gone.

    The command name sits in parentheses and may itself contain spaces or parentheses,
    so the split starts after the last closing parenthesis. Index 0 is then the state
    (field 3 in proc(5)), index 1 the parent pid, index 11..14 utime/stime/cutime/cstime.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants (root first), from the parent links in /proc.

    Returns an empty list if ``root`` is gone.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _read_stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    if _read_stat(root) is None:
        return []
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds used so far by ``root`` and all its descendants.

    Live processes contribute their own utime + stime; descendants that already exited
    and were reaped inside the tree contribute through their parent's cutime + cstime,
    so a worker that is replaced between two readings is not lost. (A descendant that
    exits and is reaped by init instead is; servers do not do that.) Resolution is one
    clock tick (10 ms), so measure enough work per reading.
    """
    ticks = 0
    for pid in process_tree(root):
        fields = _read_stat(pid)
        if fields is not None:
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLOCK_TICKS


def tree_rss_bytes(root: int, pids: Sequence[int] | None = None) -> int:
    """Resident memory of ``root`` and all its descendants, in bytes (sum of each RSS).

    Pages shared between the processes of the tree are counted once per process, as
    ``ps`` and ``/proc/PID/status`` VmRSS do; that is the figure the anchors' numbers use.
    ``pids`` skips the scan of /proc when the caller already knows the tree.
    """
    total = 0
    for pid in process_tree(root) if pids is None else pids:
        try:
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += resident * PAGE_SIZE
    return total


class RssSampler:
    """Samples the resident memory of one process tree in a background thread.

    Keeps every ``(monotonic time, bytes)`` sample, so the peak over the whole run and the
    peak inside any time window (one round, one operation) can both be read later. The
    tree is listed again every ``rescan`` seconds, so a child started in between is
    counted from the next listing on.

        >>> with RssSampler(os.getpid(), interval=0.05) as sampler:
        ...     _ = bytearray(10_000_000)
        >>> sampler.peak() > 0
        True
    """

    def __init__(self, pid: int, *, interval: float = 0.05, rescan: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.rescan = rescan
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _run(self) -> None:
        # Listing the tree scans all of /proc (milliseconds); reading each member's statm
        # is microseconds. Servers do not fork per request, so the tree is listed again
        # only every ``rescan`` seconds, keeping the sampler's own CPU use negligible on a
        # machine whose two cores the measured processes need.
        tree: list[int] = []
        listed = -math.inf
        while True:
            now = time.monotonic()
            if now - listed >= self.rescan:
                tree, listed = process_tree(self.pid), now
            self.samples.append((now, tree_rss_bytes(self.pid, tree)))
            if self._stop.wait(self.interval):
                return

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling, after one final sample."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def peak(self, start: float = -math.inf, end: float = math.inf) -> int:
        """Largest sample taken between monotonic times ``start`` and ``end`` (0 if none)."""
        return max((rss for t, rss in list(self.samples) if start <= t <= end), default=0)


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """A server under test did not start, or died; the message carries its log tail."""


@dataclass
class Server:
    """A server process the benchmark started, owned until :meth:`stop`.

    It is started in its own session (so Ctrl-C in the terminal reaches the benchmark, which
    then stops it in order) with stdout and stderr going to ``log_path``. Stopping signals
    exactly the processes of its tree, by pid: nothing else on the machine is touched.
    """

    name: str
    argv: Sequence[str]
    url: str
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError(f"{self.name} server was not started")
        return self.process.pid

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str = "/health", *, timeout: float = 120.0) -> float:
        """Poll ``GET url+path`` until it answers 200; return the seconds it took.

        Raises :class:`ServerError` with the log tail if the process exits or the
        deadline passes first.
        """
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} server exited with code {self.process.returncode} before "
                    f"answering {path}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise ServerError(
            f"{self.name} server did not answer {path} within {timeout:.0f} s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def check_alive(self) -> None:
        """Raise :class:`ServerError` if the server process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ServerError(
                f"{self.name} server died with code {self.process.returncode}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop the server and every descendant: SIGTERM by pid, SIGKILL after ``grace`` s.

        Safe to call twice and on a server that already exited.
        """
        if self.process is None:
            return
        stop_process_tree(self.process.pid, grace=grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def stop_process_tree(root: int, *, grace: float = 10.0) -> None:
    """Terminate ``root`` and its descendants by pid; kill whatever outlives ``grace`` s.

    The tree is listed before signalling, because children re-parent to init once their
    parent exits and could no longer be found from ``root``.
    """
    pids = process_tree(root)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # A child of ours stays a zombie until reaped: count it as gone.
        if all(_gone(pid) for pid in pids):
            return
        time.sleep(0.05)
    for pid in pids:
        if not _gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    fields = _read_stat(pid)
    return fields is None or fields[0] in ("Z", "X")


# --------------------------------------------------------------------------------------
# Worker processes (the client side of a benchmark)
# --------------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    """The client worker failed an operation or died; the message carries its error."""


class Worker:
    """A long-lived client process driven by JSON lines over its stdin and stdout.

    The benchmark's client workload runs in the anchor's own virtualenv, so it lives in a
    separate process. Keeping that process alive across operations keeps interpreter
    start-up and imports out of every measurement, and lets the caller read the server's
    CPU time right before sending a request and right after its reply.

    Protocol: one JSON object per line each way. A reply ``{"ok": true, ...}`` is the
    result; ``{"ok": false, "error": "..."}`` raises :class:`WorkerError`.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env),
            text=True,
            bufsize=1,
            start_new_session=True,
        )

    def call(self, request: Mapping[str, object]) -> dict[str, Any]:
        """Send one request and wait for its reply."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(self._died_message()) from None
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(self._died_message())
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise WorkerError(f"{request.get('op')} failed: {reply.get('error')}")
        return reply

    def _died_message(self) -> str:
        self.process.poll()
        tail = "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-30:])
        return f"client worker exited (code {self.process.returncode}):\n{tail}"

    def close(self) -> None:
        """Ask the worker to exit (end of input); stop its tree by pid if it does not."""
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            stop_process_tree(self.process.pid, grace=2)
            self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


# --------------------------------------------------------------------------------------
# Rounds, statistics and tables
# --------------------------------------------------------------------------------------


def interleave(names: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """Yield ``(round, name)`` in the order A, B, A, B, ... for ``rounds`` rounds.

    Interleaving spreads slow phases of a shared machine over both contestants instead of
    letting them land on one.

        >>> list(interleave(["mlflow", "moorline"], 2))
        [(0, 'mlflow'), (0, 'moorline'), (1, 'mlflow'), (1, 'moorline')]
    """
    for round_index in range(rounds):
        for name in names:
            yield round_index, name


@dataclass(frozen=True, slots=True, kw_only=True)
class Spread:
    """Minimum, median and maximum of one figure over the rounds."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("Spread.of needs at least one value, got none")
        return cls(min=min(values), median=statistics.median(values), max=max(values))

    def as_dict(self) -> dict[str, float]:
        return {"min": self.min, "median": self.median, "max": self.max}


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A bound on the ratio moorline / anchor: ``ratio <= bound`` or ``ratio >= bound``."""

    op: Literal["<=", ">="]
    bound: float
    label: str

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.op == "<=" else ratio >= self.bound


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of a comparison table: a figure for the anchor and for moorline per round.

    ``anchor`` and ``moorline`` hold one value per round, in round order, so the ratio is
    taken per round (the two values of a round were measured back to back) before its
    spread is summarised. Either side may be empty when only one contestant ran.
    """

    name: str
    unit: str
    anchor: Sequence[float]
    moorline: Sequence[float]
    target: Target | None = None

    def ratios(self) -> list[float]:
        return [b / a if a else math.inf for a, b in zip(self.anchor, self.moorline, strict=False)]

    def as_dict(self) -> dict[str, object]:
        ratios = self.ratios()
        out: dict[str, object] = {"name": self.name, "unit": self.unit}
        for side, values in (("anchor", self.anchor), ("moorline", self.moorline)):
            if values:
                out[side] = {"rounds": list(values), **Spread.of(values).as_dict()}
        if ratios:
            spread = Spread.of(ratios)
            out["ratio"] = {"rounds": ratios, **spread.as_dict()}
            if self.target is not None:
                out["target"] = {
                    "op": self.target.op,
                    "bound": self.target.bound,
                    "label": self.target.label,
                    "met_by_median": self.target.met(spread.median),
                }
        return out


def format_number(value: float) -> str:
    """A figure with about three significant digits, readable in a narrow column.

    >>> [format_number(v) for v in (0.01234, 0.7, 7.1, 105.4, 7100.0, 123456.0, math.inf)]
    ['0.0123', '0.700', '7.10', '105', '7100', '123456', 'inf']
    """
    if math.isinf(value) or math.isnan(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:#.3g}"


def _spread_cell(values: Sequence[float]) -> str:
    if not values:
        return "-"
    spread = Spread.of(values)
    return (
        f"{format_number(spread.median)} [{format_number(spread.min)}..{format_number(spread.max)}]"
    )


def ratio_table(rows: Sequence[Row], *, anchor: str) -> str:
    """Render rows as a plain-text table: median [min..max] per side, ratio and target.

    The ratio column is moorline / anchor per round. The last column says whether the
    median ratio meets the target (``ok`` / ``MISS``); it is blank without a target or
    without both sides.
    """
    header = ("figure", "unit", anchor, "moorline", "ratio moorline/" + anchor, "target", "met")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        ratios = row.ratios()
        verdict = ""
        if row.target is not None and ratios:
            verdict = "ok" if row.target.met(Spread.of(ratios).median) else "MISS"
        lines.append(
            (
                row.name,
                row.unit,
                _spread_cell(row.anchor),
                _spread_cell(row.moorline),
                _spread_cell(ratios),
                row.target.label if row.target is not None else "",
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return "\n".join(rendered)
