"""A real HTTP receiver on loopback for webhook tests: records every request and
answers as its script says (a status per request, optionally after a pause)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got. ``answer(n)`` says how to answer request ``n``
    (0-based): an HTTP status and a pause in seconds before it."""

    answer: Callable[[int], tuple[int, float]]
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until ``count`` requests arrived (or fail after ``timeout`` seconds)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            if not ok:
                raise AssertionError(
                    f"expected {count} requests within {timeout} s, got {len(self.requests)}"
                )
            return list(self.requests)


@contextmanager
def receiver(answer: Callable[[int], tuple[int, float]] | None = None) -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (a free port) in a thread until the block ends."""
    state = Receiver(answer=answer or (lambda _n: (200, 0.0)))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.arrived:
                number = len(state.requests)
                state.requests.append(
                    Received(
                        at=time.monotonic(),
                        path=self.path,
                        headers={k: v for k, v in self.headers.items()},
                        body=body,
                    )
                )
                state.arrived.notify_all()
            status, pause = state.answer(number)
            if pause:
                time.sleep(pause)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
