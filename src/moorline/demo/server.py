"""The model server the demo streams through: ``moorline serve`` as a child process.

A real server on a free loopback port, reading the same store: it loads the
deployment's versions (digests checked), answers over HTTP, writes the
prediction log and takes feedback, and follows traffic changes (the canary,
the promotion) by itself, as it would in production.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO

from moorline.errors import TemporarilyUnavailable

_LISTENING = re.compile(rb"listening on (http://\S+)")


@dataclass
class ModelServer:
    """A running ``moorline serve``: its URL, process and captured stderr."""

    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    started_s: float

    def log_tail(self, limit: int = 4000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (it finishes in-flight requests and flushes the prediction log),
        then SIGKILL after ``timeout`` seconds; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        with contextlib.suppress(OSError):
            self.log.close()
        return self.process.returncode


def start_model_server(
    *, deployment: str, store_uri: str, artifacts_uri: str, timeout: float = 90.0
) -> ModelServer:
    """Start ``moorline serve DEPLOYMENT`` on a free loopback port and wait until it
    is ready (its models loaded and warmed up)."""
    import httpx

    started = time.monotonic()
    # The server's stderr, kept for as long as the server runs (ModelServer.stop closes it).
    log = tempfile.TemporaryFile(prefix="moorline-demo-serve-")  # noqa: SIM115
    args = [
        sys.executable,
        "-c",
        "from moorline.cli.main import main; main()",
        "serve",
        deployment,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--store",
        store_uri,
        "--artifacts",
        artifacts_uri,
        "--log-level",
        "warning",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MOORLINE_TRACKING_URI"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)
    server = ModelServer(url="", process=process, log=log, started_s=0.0)
    try:
        server.url = _read_url(process, started + timeout)
        deadline = started + timeout
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    raise TemporarilyUnavailable(
                        f"moorline serve exited with code {process.returncode}: {server.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/ready").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TemporarilyUnavailable(
                        f"moorline serve was not ready within {timeout:g} s: {server.log_tail()}"
                    )
                time.sleep(0.1)
    except BaseException:
        server.stop(timeout=5.0)
        raise
    server.started_s = time.monotonic() - started
    return server


def _read_url(process: subprocess.Popen[bytes], deadline: float) -> str:
    """The URL from the server's one stdout line; the rest of stdout is drained."""
    assert process.stdout is not None
    stdout = process.stdout
    selector = selectors.DefaultSelector()
    selector.register(stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TemporarilyUnavailable("moorline serve did not say where it listens")
            if not selector.select(timeout=min(left, 0.5)):
                if process.poll() is not None:
                    raise TemporarilyUnavailable(
                        f"moorline serve exited with code {process.returncode} before listening"
                    )
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise TemporarilyUnavailable("moorline serve closed its output before listening")
            buffer += chunk
    finally:
        selector.close()
    match = _LISTENING.search(buffer)
    if match is None:
        raise TemporarilyUnavailable(f"unexpected output from moorline serve: {buffer!r}")
    threading.Thread(target=_drain, args=(stdout,), daemon=True).start()
    return match.group(1).decode()


def _drain(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass


__all__ = ["ModelServer", "start_model_server"]
