"""Start a real ``moorline server`` subprocess on a free loopback port.

Tests that need "a server like a user runs it" use this rather than an
in-process app, so the CLI, migrations and uvicorn are exercised too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MOORLINE = str(Path(sys.executable).parent / "moorline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    store_uri: str
    artifacts: str
    log_path: Path
    args: list[str] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(
    workdir: Path,
    *extra: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    store_uri: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    timeout: float = 30.0,
) -> LiveServer:
    """Start ``moorline server`` with a SQLite store under ``workdir`` (unless given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    store_uri = store_uri or f"sqlite:///{workdir / 'moorline.db'}"
    artifacts = str(workdir / "artifacts")
    log_path = workdir / f"server-{port}.log"
    args = [
        MOORLINE, "server", "--host", host, "--port", str(port),
        "--store", store_uri, "--artifacts", artifacts, *extra,
    ]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MOORLINE_TRACKING_URI", None)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=full_env)
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", process=process, store_uri=store_uri,
        artifacts=artifacts, log_path=log_path, args=args,
    )
    if wait:
        wait_ready(server, timeout)
    return server


def wait_ready(server: LiveServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server not ready after {timeout} s:\n{server.log()}")
