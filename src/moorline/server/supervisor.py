"""The supervisor of ``moorline serve --workers N``: a lean process that starts the
worker processes, restarts one that dies, and stops them all on SIGTERM/SIGINT.

``moorline serve`` checks its arguments and the store in a full process (the
store, SQLAlchemy, every service), then replaces itself with this one
(``os.execv``, same process id, same standard streams), which imports nothing
of moorline's beyond this module. The workers are plain child processes
(``python -c "...worker_entry()" OPTIONS INDEX PARENT``), each a fresh
interpreter that loads its own models. Measured with the serving benchmark's
two models: the supervisor holds 12 MiB instead of 70 MiB, and without
``multiprocessing`` there is no resource-tracker process (12 MiB more), so a
two-worker server is its two workers plus about 12 MiB.

The options travel as JSON (``ServeOptions``' fields; the supervisor reads the
few it needs) in the environment through ``exec`` and on each worker's standard
input, never in a command line (a store URI may hold a password, and command
lines are visible to every user of the machine). The full process binds the
port (so a port in use is the same clear error as ever) with an
``SO_REUSEPORT`` socket, prints where it listens, and hands that socket down
through ``exec``: a port asked as 0 is resolved once, and every worker binds
the same one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Final

log = logging.getLogger("moorline.serving")

#: A worker exits with this when it cannot serve at all (bad store, no model): stop.
EXIT_CANNOT_SERVE: Final = 3
#: A worker that dies this many times within RESTART_WINDOW_S is not restarted again.
MAX_RESTARTS: Final = 5
RESTART_WINDOW_S: Final = 60.0
#: What a worker process runs (found in its command line: the tests look for it).
WORKER_CODE: Final = "from moorline.server.serving.workers import worker_entry; worker_entry()"
#: The environment variable that carries the options through ``exec`` (then removed).
OPTIONS_VARIABLE: Final = "MOORLINE_SERVE_OPTIONS"


def exec_supervisor(options: dict[str, Any], reserve: socket.socket) -> None:
    """Replace this process with the supervisor of ``options["workers"]`` workers;
    ``reserve``: the bound socket that holds ``options["port"]``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    reserve.set_inheritable(True)
    code = "from moorline.server.supervisor import main; main()"
    argv = [sys.executable, "-c", code, str(reserve.fileno())]
    env = {**os.environ, OPTIONS_VARIABLE: json.dumps(options)}
    os.execve(sys.executable, argv, env)  # noqa: S606 - this interpreter, fixed arguments


def main() -> None:
    """Entry point after :func:`exec_supervisor`: the options, the reserved socket's fd."""
    options = json.loads(os.environ.pop(OPTIONS_VARIABLE))
    reserve = socket.socket(fileno=int(sys.argv[1]))
    reserve.set_inheritable(False)
    _configure_logging(str(options.get("log_level", "info")))
    sys.exit(supervise(options, reserve))


def supervise(options: dict[str, Any], reserve: socket.socket) -> int:
    """Run the workers until SIGTERM/SIGINT, then close ``reserve``; the exit code."""
    payload = json.dumps(options)
    parent = os.getpid()
    stopping = threading.Event()
    processes: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, list[float]] = {}

    def start(index: int) -> None:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, str(index), str(parent)],
            stdin=subprocess.PIPE,
            close_fds=True,
        )
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(payload.encode())
            process.stdin.close()
        processes[index] = process
        started.setdefault(index, []).append(time.monotonic())

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for index in range(int(options["workers"])):
            start(index)
        while not stopping.is_set():
            stopping.wait(0.2)
            for index, process in list(processes.items()):
                exitcode = process.poll()
                if exitcode is None or stopping.is_set():
                    continue
                if exitcode == EXIT_CANNOT_SERVE:
                    log.error("worker %d cannot serve; stopping", index)
                    code = EXIT_CANNOT_SERVE
                    stopping.set()
                    break
                recent = [t for t in started[index] if time.monotonic() - t < RESTART_WINDOW_S]
                if len(recent) >= MAX_RESTARTS:
                    log.error("worker %d keeps dying (exit %s); stopping", index, exitcode)
                    code = 4
                    stopping.set()
                    break
                log.warning("worker %d exited with %s; restarting it", index, exitcode)
                start(index)
    finally:
        _stop_all(list(processes.values()), float(options["graceful_timeout_s"]) + 5.0)
        reserve.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _stop_all(processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s moorline-serve: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(logging.ERROR if level == "error" else logging.INFO)
