"""The serving benchmark's own helpers, on real input: hey's output and /proc CPU time.

Nothing here is timed. A small threaded HTTP server on loopback answers with known
statuses and a known delay; the real ``hey`` (Debian's package) loads it through the
benchmark's ``run_hey``, so the parser reads hey's actual output and the command line is
the one the benchmark uses. The CPU accounting reads a real process tree that burns a
known amount of CPU in a child it reaps.

``benchmarks/serving.py`` is loaded under another module name: ``serving`` is also the
name of the ``tests/serving`` package.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from _harness import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serving.py"
HEY = "/usr/bin/hey"
DELAY_S = 0.02
FAIL_EVERY = 5

needs_hey = pytest.mark.skipif(not Path(HEY).exists(), reason="hey is not installed")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serving", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_serving"] = module
    spec.loader.exec_module(module)
    return module


class _Handler(BaseHTTPRequestHandler):
    """Answers every POST after DELAY_S: 200 with ``[1]``, except every FAIL_EVERY-th, 503."""

    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        with self.lock:
            self.bodies.append((self.headers["Content-Type"], body))
            count = len(self.bodies)
        threading.Event().wait(DELAY_S)
        status, payload = (
            (503, b'{"error": "overloaded"}')
            if count % FAIL_EVERY == 0
            else (
                200,
                b"[1]",
            )
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def http_server() -> Iterator[str]:
    _Handler.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@needs_hey
def test_hey_summary_of_a_real_run(bench: ModuleType, http_server: str, tmp_path: Path) -> None:
    """200 requests at concurrency 4: 160 answered 200, 40 answered 503, each after 20 ms;
    the server saw exactly the benchmark's body, as JSON."""
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"inputs": [[0.5] * 30]}))
    load = bench.Load(concurrency=4, requests=200)

    result, client_cpu_s = bench.run_hey(load, http_server, body, tmp_path / "hey.txt")

    assert result.answered == 200
    assert result.ok == 160
    assert dict(result.status_codes) == {200: 160, 503: 40}
    assert result.failed == 40
    assert not result.errors
    assert result.ok_per_s == pytest.approx(160 / result.total_s)
    # hey's own rate counts the 503s too.
    assert result.requests_per_s == pytest.approx(200 / result.total_s, rel=0.01)
    # Seconds in hey's output, milliseconds out: every request took at least 20 ms.
    assert DELAY_S * 1000 * 0.9 <= result.percentile_ms(50) <= result.percentile_ms(99) < 2000
    assert set(result.percentiles_s) == {10, 25, 50, 75, 90, 95, 99}
    assert 0 <= client_cpu_s < 10
    assert len(_Handler.bodies) == 200
    assert {content_type for content_type, _ in _Handler.bodies} == {"application/json"}
    assert {raw for _, raw in _Handler.bodies} == {body.read_bytes()}


@needs_hey
def test_hey_summary_with_transport_errors(bench: ModuleType, tmp_path: Path) -> None:
    """Nothing listens: every request is a connection error, none is 'answered'."""
    body = tmp_path / "body.json"
    body.write_text("{}")
    url = f"http://127.0.0.1:{free_port()}/predict"

    result, _ = bench.run_hey(bench.Load(concurrency=2, requests=20), url, body, tmp_path / "h")

    assert result.ok == 0
    assert result.answered == 0
    assert sum(result.errors.values()) == 20
    assert result.failed == 20
    assert any("connection refused" in message for message in result.errors)
    with pytest.raises(bench.BenchmarkError, match="no 50% latency"):
        result.percentile_ms(50)


@needs_hey
def test_duration_mode_runs_for_the_duration(
    bench: ModuleType, http_server: str, tmp_path: Path
) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")

    result, _ = bench.run_hey(
        bench.Load(concurrency=1, duration_s=0.5), http_server, body, tmp_path / "hey.txt"
    )

    assert 0.45 <= result.total_s < 5
    assert result.answered == len(_Handler.bodies) > 0


@needs_hey
def test_p99_needs_a_hundred_answers(bench: ModuleType, http_server: str, tmp_path: Path) -> None:
    """hey prints "0% in 0.0000 secs" where it cannot place the 99th percentile: with 50
    answers there is none, and the benchmark says so instead of reporting 0 ms."""
    body = tmp_path / "body.json"
    body.write_text("{}")

    result, _ = bench.run_hey(
        bench.Load(concurrency=5, requests=50), http_server, body, tmp_path / "hey.txt"
    )

    assert result.answered == 50
    assert 99 not in result.percentiles_s
    assert 0 not in result.percentiles_s
    assert result.percentile_ms(95) >= DELAY_S * 1000 * 0.9
    with pytest.raises(bench.BenchmarkError, match="no 99% latency"):
        result.percentile_ms(99)


def test_hey_output_that_is_not_a_summary_is_refused(bench: ModuleType) -> None:
    with pytest.raises(bench.BenchmarkError, match="not hey's summary"):
        bench.parse_hey_summary("flag provided but not defined: -x\nUsage: hey [options...] <url>")


def _burning_tree(seconds: float) -> subprocess.Popen[str]:
    """A python process that, on one line of input, runs a child burning ``seconds`` of
    CPU, reaps it, prints ``done`` and idles until its input closes."""
    child = (
        f"import time\nend = time.process_time() + {seconds}\n"
        "while time.process_time() < end: pass\n"
    )
    code = textwrap.dedent(
        f"""
        import subprocess, sys
        sys.stdin.readline()
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
        print("done", flush=True)
        sys.stdin.read()
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_cpu_of_a_process_tree_per_request(bench: ModuleType) -> None:
    """0.4 s of CPU burnt by a child that is reaped inside the tree, shared by 4 'requests':
    about 100 ms each (plus the child's interpreter start-up)."""
    parent = _burning_tree(0.4)
    try:
        assert parent.stdin is not None and parent.stdout is not None
        cpu = bench.TreeCpu(parent.pid).start()
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "done"
        spent = cpu.stop()
        per_request = cpu.per_request_ms(4)
    finally:
        if parent.stdin is not None:
            parent.stdin.close()
        parent.wait(timeout=10)
    assert 0.38 <= spent < 2.0
    assert per_request == pytest.approx(spent * 1000 / 4)
    assert 95 <= per_request < 500


def test_per_request_cpu_refuses_what_cannot_be_divided(bench: ModuleType) -> None:
    assert bench.per_request_ms(1.0, 1.0, 10) == 0.0
    with pytest.raises(ValueError, match="at least one request"):
        bench.per_request_ms(1.0, 2.0, 0)
    with pytest.raises(ValueError, match="went backwards"):
        bench.per_request_ms(2.0, 1.0, 10)


def _results(
    bench: ModuleType, cells: dict[tuple[int, str, int, str], dict[str, list[float]]]
) -> Any:
    results = bench.Results()
    for key, figures in cells.items():
        for round_index in range(len(next(iter(figures.values())))):
            results.record(key, {name: values[round_index] for name, values in figures.items()})
    return results


def test_targets_compare_with_the_best_anchor_of_each_round(bench: ModuleType) -> None:
    """Round 1: BentoML is the best anchor (500 req/s), round 2 MLflow (600): the forest
    ratio is 1,600/500 and 1,500/600, median 2.85 < 3: a miss. Latency compares with the
    lowest anchor p99 of the round; two workers compare with BentoML only."""
    c64 = {
        (1, "forest", 64, "bentoml"): {"rps": [500.0, 400.0], "p99_ms": [500.0, 520.0]},
        (1, "forest", 64, "mlflow"): {"rps": [90.0, 600.0], "p99_ms": [900.0, 100.0]},
        (1, "forest", 64, "moorline"): {"rps": [1600.0, 1500.0], "p99_ms": [80.0, 90.0]},
        (2, "forest", 64, "bentoml"): {"rps": [700.0]},
        (2, "forest", 64, "moorline"): {"rps": [900.0]},
    }
    results = _results(bench, c64)
    results.run_peak_mb["moorline-w2"] = 400.0

    found = {v.target: v for v in bench.verdicts(results, [1, 2], 64)}

    rps = found["forest c=64 1 worker: requests/s >= 3x best anchor"]
    assert rps.met is False
    assert rps.measured.startswith("ratio 2.85 [2.50..3.20]")
    assert found["forest c=64 1 worker: p99 lower than every anchor"].met is True
    assert found["forest c=64 2 workers: requests/s higher than BentoML's 2 workers"].met is True
    assert found["memory <= 250 MB per worker (2 worker(s))"].met is True
    assert found["memory <= 250 MB per worker (1 worker(s))"].met is None
    assert found["lr c=64 1 worker: requests/s >= 2x best anchor"].met is None
    assert found["ready within 2.5 s of start"].met is None
    results.ready_s["moorline-w1"] = 2.6
    assert {v.target: v.met for v in bench.verdicts(results, [1], 64)}[
        "moorline-w1: ready within 2.5 s of start"
    ] is False


def test_doctests(bench: ModuleType) -> None:
    failures, attempted = doctest.testmod(bench)
    assert attempted >= 8
    assert failures == 0
