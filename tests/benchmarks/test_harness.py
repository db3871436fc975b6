"""The benchmark harness measures real processes: these tests run real ones, no fakes.

What the benchmark's numbers rest on is checked here: CPU time is attributed to a server's
whole process tree (live and already-reaped descendants), memory likewise, servers are
stopped with every descendant, and the tables pair values by round.
"""

from __future__ import annotations

import doctest
import math
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import _harness
from _harness import (
    CLOCK_TICKS,
    Row,
    RssSampler,
    Server,
    ServerError,
    Spread,
    Target,
    Worker,
    WorkerError,
    _read_stat,
    format_number,
    free_port,
    interleave,
    process_tree,
    ratio_table,
    tree_cpu_seconds,
    tree_rss_bytes,
)

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def _own_cpu_seconds(pid: int) -> float:
    fields = _read_stat(pid)
    assert fields is not None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _spawn_parent(child_code: str, *, wait_child: bool) -> subprocess.Popen[str]:
    """A python process that starts one python child, prints its pid, and idles on stdin."""
    code = textwrap.dedent(
        f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {child_code!r}])
        print(child.pid, flush=True)
        if {wait_child}:
            child.wait()
            print("reaped", flush=True)
        sys.stdin.read()
        child.kill()
        child.wait()
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _finish(parent: subprocess.Popen[str]) -> None:
    assert parent.stdin is not None
    parent.stdin.close()
    parent.wait(timeout=10)


def test_tree_cpu_counts_a_live_descendant_that_burns_cpu() -> None:
    parent = _spawn_parent(BURN.format(seconds=30), wait_child=False)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert process_tree(parent.pid) == [parent.pid, child]
        start = tree_cpu_seconds(parent.pid)
        deadline = time.monotonic() + 15
        while tree_cpu_seconds(parent.pid) - start < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        burned = tree_cpu_seconds(parent.pid) - start
        assert burned >= 0.3
        # The parent itself only waits on stdin: the time is the child's, seen via the tree.
        assert _own_cpu_seconds(parent.pid) < burned
    finally:
        _finish(parent)


def test_tree_cpu_keeps_a_reaped_descendants_time() -> None:
    parent = _spawn_parent(BURN.format(seconds=0.4), wait_child=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "reaped"
        assert child not in process_tree(parent.pid)
        assert 0.35 <= tree_cpu_seconds(parent.pid) < 5
        assert _own_cpu_seconds(parent.pid) < 0.35
    finally:
        _finish(parent)


def test_process_tree_of_a_missing_process_is_empty() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_tree(gone.pid) == []
    assert tree_cpu_seconds(gone.pid) == 0
    assert tree_rss_bytes(gone.pid) == 0


def test_rss_sampler_sees_a_descendants_memory() -> None:
    size = 150 * 2**20
    # bytes * n writes every page, so it is resident (a zeroed bytearray may not be).
    parent = _spawn_parent(f"b = b'x' * {size}\nimport time\ntime.sleep(60)", wait_child=False)
    try:
        assert parent.stdout is not None
        parent.stdout.readline()
        with RssSampler(parent.pid, interval=0.02) as sampler:
            deadline = time.monotonic() + 15
            while sampler.peak() < size and time.monotonic() < deadline:
                time.sleep(0.05)
        assert sampler.peak() >= size
        assert len(sampler.samples) >= 2
        first_time = sampler.samples[0][0]
        assert sampler.peak(end=first_time) == sampler.samples[0][1]
        assert sampler.peak(start=math.inf) == 0
    finally:
        _finish(parent)


def test_server_waits_for_health_and_stops_its_whole_tree(tmp_path: Path) -> None:
    (tmp_path / "health").write_text("OK")
    port = free_port()
    code = textwrap.dedent(
        f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        from http.server import HTTPServer, SimpleHTTPRequestHandler
        HTTPServer(("127.0.0.1", {port}), SimpleHTTPRequestHandler).serve_forever()
        """
    )
    server = Server(
        name="toy",
        argv=[sys.executable, "-c", code],
        url=f"http://127.0.0.1:{port}",
        log_path=tmp_path / "logs" / "toy.log",
        cwd=tmp_path,
    ).start()
    try:
        assert server.wait_ready("/health", timeout=20) < 20
        tree = process_tree(server.pid)
        assert len(tree) == 2
        server.check_alive()
    finally:
        server.stop(grace=5)
    for pid in tree:
        fields = _read_stat(pid)
        assert fields is None or fields[0] in ("Z", "X"), f"pid {pid} survived stop()"
    server.stop()  # a second stop is harmless
    assert "GET /health" in server.log_tail()


def test_wait_ready_reports_an_early_exit_with_the_log(tmp_path: Path) -> None:
    server = Server(
        name="broken",
        argv=[sys.executable, "-c", "print('bad flag --store'); raise SystemExit(3)"],
        url=f"http://127.0.0.1:{free_port()}",
        log_path=tmp_path / "broken.log",
    ).start()
    with pytest.raises(ServerError, match=r"(?s)exited with code 3.*bad flag --store"):
        server.wait_ready(timeout=20)
    with pytest.raises(ServerError, match="died with code 3"):
        server.check_alive()


def test_worker_round_trips_json_lines_and_raises_reported_errors(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        for line in sys.stdin:
            req = json.loads(line)
            if req["op"] == "double":
                reply = {"ok": True, "value": req["value"] * 2}
            else:
                reply = {"ok": False, "error": "unknown op " + req["op"]}
            print(json.dumps(reply), flush=True)
        """
    )
    worker = Worker(
        [sys.executable, "-c", code], env={"PATH": "/usr/bin"}, stderr_path=tmp_path / "w.log"
    )
    try:
        assert worker.call({"op": "double", "value": 21}) == {"ok": True, "value": 42}
        with pytest.raises(WorkerError, match="nope failed: unknown op nope"):
            worker.call({"op": "nope"})
    finally:
        worker.close()
    assert worker.process.returncode == 0


def test_worker_that_dies_reports_its_stderr(tmp_path: Path) -> None:
    worker = Worker(
        [
            sys.executable,
            "-c",
            "import sys; sys.stderr.write('ImportError: no mlflow'); sys.exit(1)",
        ],
        env={"PATH": "/usr/bin"},
        stderr_path=tmp_path / "w.log",
    )
    try:
        with pytest.raises(WorkerError, match=r"(?s)exited.*ImportError: no mlflow"):
            worker.call({"op": "hello"})
    finally:
        worker.close()


def test_docstring_examples_run() -> None:
    failures, attempted = doctest.testmod(_harness)
    assert attempted >= 4
    assert failures == 0


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 1024 < port < 65536


def test_interleave_alternates_contestants_each_round() -> None:
    assert list(interleave(["a", "b"], 3)) == [
        (0, "a"),
        (0, "b"),
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
    ]


def test_spread_and_number_format() -> None:
    assert Spread.of([3.0, 1.0, 2.0, 10.0]) == Spread(min=1.0, median=2.5, max=10.0)
    with pytest.raises(ValueError, match="at least one value"):
        Spread.of([])
    assert [format_number(v) for v in (0.01234, 0.7, 7.1, 10.5, 105.4, 7100.0)] == [
        "0.0123",
        "0.700",
        "7.10",
        "10.5",
        "105",
        "7100",
    ]


def test_ratios_pair_values_by_round_not_by_median() -> None:
    # Round 1 was slow for both, round 2 fast for both: per-round ratios are both 0.5,
    # while the ratio of the two medians alone would hide nothing here but the spread.
    row = Row(name="cpu", unit="s", anchor=[10.0, 2.0], moorline=[5.0, 1.0])
    assert row.ratios() == [0.5, 0.5]
    row = Row(name="cpu", unit="s", anchor=[10.0, 2.0], moorline=[1.0, 5.0])
    assert row.ratios() == [0.1, 2.5]


def test_ratio_table_layout_and_verdicts() -> None:
    rows = [
        Row(
            name="log_metric_calls_per_s",
            unit="calls/s",
            anchor=[90.0, 100.0, 80.0],
            moorline=[300.0, 400.0, 320.0],
            target=Target(op=">=", bound=3.0, label=">= 3x"),
        ),
        Row(
            name="cpu_ms_per_call",
            unit="ms",
            anchor=[7.0, 7.0, 7.0],
            moorline=[1.4, 0.5, 0.6],
            target=Target(op="<=", bound=0.1, label="<= 0.10"),
        ),
        Row(name="ready_s", unit="s", anchor=[4.2], moorline=[]),
    ]
    assert ratio_table(rows, anchor="mlflow").splitlines() == [
        "figure                  unit     mlflow             moorline             "
        "ratio moorline/mlflow   target   met",
        "----------------------  -------  -----------------  -------------------  "
        "----------------------  -------  ---",
        "log_metric_calls_per_s  calls/s  90.0 [80.0..100]   320 [300..400]       "
        "4.00 [3.33..4.00]       >= 3x    ok",
        "cpu_ms_per_call         ms       7.00 [7.00..7.00]  0.600 [0.500..1.40]  "
        "0.0857 [0.0714..0.200]  <= 0.10  ok",
        "ready_s                 s        4.20 [4.20..4.20]  -                    -",
    ]


def test_ratio_table_flags_a_missed_target_and_json_records_it() -> None:
    row = Row(
        name="peak_rss_mb",
        unit="MB",
        anchor=[600.0],
        moorline=[300.0],
        target=Target(op="<=", bound=1 / 3, label="<= 0.33"),
    )
    assert ratio_table([row], anchor="mlflow").splitlines()[2].endswith("<= 0.33  MISS")
    data = row.as_dict()
    assert data["ratio"] == {"rounds": [0.5], "min": 0.5, "median": 0.5, "max": 0.5}
    assert data["target"] == {
        "op": "<=",
        "bound": 1 / 3,
        "label": "<= 0.33",
        "met_by_median": False,
    }
    assert data["anchor"] == {"rounds": [600.0], "min": 600.0, "median": 600.0, "max": 600.0}
