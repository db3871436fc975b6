"""Side-by-side benchmark: moorline's tracking server against a real ``mlflow server``.

Both servers run on loopback with a SQLite store and a local artifact folder in a temporary
directory, and both are driven by the same unmodified MLflow client (3.17.2, from its own
virtualenv under ``benchmarks/.envs/mlflow``, created on first use). The operations run
interleaved, MLflow then moorline, for ``--rounds`` rounds; each is measured as

* end-to-end wall time in the client, and
* the server's own CPU time: user + system of its whole process tree, read from /proc
  right before the request and right after the reply (steadier than wall time here),

and the server's resident memory (whole tree) is sampled every 50 ms all along.

Usage::

    .venv/bin/python benchmarks/tracking.py                # full sizes, 3 rounds
    .venv/bin/python benchmarks/tracking.py --quick        # smoke run, about a minute
    .venv/bin/python benchmarks/tracking.py --only mlflow  # one server, no ratios

It prints one line per measurement, then a table of median [min..max] per server and of
the per-round ratio moorline / MLflow with the target it must meet, and writes everything
to ``benchmarks/results/tracking-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from _harness import (
    Row,
    RssSampler,
    Server,
    ServerError,
    Target,
    Worker,
    WorkerError,
    ensure_venv,
    format_number,
    free_port,
    git_revision,
    interleave,
    ratio_table,
    tree_cpu_seconds,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MLFLOW_VERSION = "3.17.2"
MLFLOW_ENV = HERE / ".envs" / "mlflow"
CLIENT_SCRIPT = HERE / "_tracking_client.py"
RESULTS = HERE / "results"
CONTESTANTS = ("mlflow", "moorline")
SEED = 20261129
# After a reply, give the server this long to finish post-response work (access log,
# background tasks) before reading its CPU time again; an idle server uses ~0 CPU in it.
SETTLE_S = 0.05
SAMPLE_INTERVAL_S = 0.05

E2E = Target(op=">=", bound=3.0, label=">= 3x faster")
E2E_TIME = Target(op="<=", bound=1 / 3, label="<= 0.33 (3x faster)")
CPU = Target(op="<=", bound=0.1, label="<= 0.10")
MEMORY = Target(op="<=", bound=1 / 3, label="<= 0.33")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How much work each operation does; ``--quick`` shrinks everything for a smoke run."""

    log_metric_calls: int = 300
    log_batch_batches: int = 30
    batch_points: int = 1000
    search_runs: int = 5000
    search_params: int = 10
    search_metrics: int = 10
    # metrics.m0 is uniform in [0, 1) and p1 is 'a' half the time: 0.32 / 2 = 16%,
    # about 800 of 5,000 runs.
    search_threshold: float = 0.68
    search_max_results: int = 1000
    history_points: int = 100_000

    @property
    def search_filter(self) -> str:
        return f"metrics.m0 > {self.search_threshold} and params.p1 = 'a'"

    @classmethod
    def quick(cls) -> Sizes:
        return cls(log_metric_calls=50, log_batch_batches=5, search_runs=500, history_points=10_000)


@dataclass
class Contestant:
    """One server under test, its client worker, and everything measured on it."""

    name: str
    server: Server
    worker: Worker
    sampler: RssSampler
    ready_s: float = 0.0
    setup: dict[str, float] = field(default_factory=dict)
    search_experiment: str = ""
    expected_matches: int = 0
    history_run: str = ""
    # figure name -> one value per round
    figures: dict[str, list[float]] = field(default_factory=dict)

    def record(self, figure: str, value: float) -> None:
        self.figures.setdefault(figure, []).append(value)


class BenchmarkError(RuntimeError):
    """A server gave a wrong answer, so its timings would mean nothing."""


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


def mlflow_server(workdir: Path, mlflow_bin: Path) -> Server:
    """``mlflow server`` in its fastest configuration here (see specs/anchors-setup.md)."""
    port = free_port()
    workdir.mkdir(parents=True)
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
        # mlflow server starts uvicorn by name: its own bin/ must come first on PATH.
        "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    argv = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return Server(
        name="mlflow",
        argv=argv,
        url=f"http://127.0.0.1:{port}",
        log_path=workdir / "server.log",
        env=env,
        cwd=workdir,
    )


def moorline_server(workdir: Path, moorline_bin: Path) -> Server:
    """``moorline server`` on the embedded default: SQLite and a local artifact folder."""
    port = free_port()
    workdir.mkdir(parents=True)
    argv = [
        str(moorline_bin),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        f"sqlite:///{workdir / 'moorline.db'}",
        "--artifacts",
        str(workdir / "artifacts"),
    ]
    return Server(
        name="moorline",
        argv=argv,
        url=f"http://127.0.0.1:{port}",
        log_path=workdir / "server.log",
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=workdir,
    )


def start(
    stack: contextlib.ExitStack, server: Server, client_python: Path, workdir: Path
) -> Contestant:
    """Start a server and its client worker; register both for cleanup on ``stack``."""
    print(f"[{server.name}] starting: {' '.join(server.argv)}", flush=True)
    server.start()
    stack.callback(server.stop)
    sampler = RssSampler(server.pid, interval=SAMPLE_INTERVAL_S).start()
    stack.callback(sampler.stop)
    ready = server.wait_ready("/health", timeout=180)
    print(f"[{server.name}] ready at {server.url} after {ready:.1f} s", flush=True)
    worker = Worker(
        [str(client_python), str(CLIENT_SCRIPT)],
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "OMP_NUM_THREADS": "1",
            # A failed request must stop the benchmark, not hide in minutes of retries.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        },
        stderr_path=workdir / f"{server.name}-client.log",
    )
    stack.callback(worker.close)
    hello = worker.call({"op": "hello"})
    print(f"[{server.name}] client mlflow {hello['mlflow_version']} connected", flush=True)
    return Contestant(
        name=server.name, server=server, worker=worker, sampler=sampler, ready_s=ready
    )


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


def measure(c: Contestant, request: dict[str, object]) -> tuple[dict[str, Any], float]:
    """Run one client operation; return its reply and the server tree's CPU seconds for it."""
    c.server.check_alive()
    cpu_before = tree_cpu_seconds(c.server.pid)
    reply = c.worker.call(request)
    time.sleep(SETTLE_S)
    cpu_after = tree_cpu_seconds(c.server.pid)
    return reply, cpu_after - cpu_before


def setup(c: Contestant, sizes: Sizes) -> None:
    """Load the data the read benchmarks need; done once per server, outside the rounds."""
    reply, cpu = measure(
        c,
        {
            "op": "setup_search",
            "runs": sizes.search_runs,
            "params": sizes.search_params,
            "metrics": sizes.search_metrics,
            "threshold": sizes.search_threshold,
            "seed": SEED,
        },
    )
    c.search_experiment = str(reply["experiment_id"])
    c.expected_matches = int(reply["expected_matches"])
    c.setup["search_runs_wall_s"] = float(reply["wall_s"])
    c.setup["search_runs_cpu_s"] = cpu
    print(
        f"[{c.name}] setup: {sizes.search_runs} runs x ({sizes.search_params} params, "
        f"{sizes.search_metrics} metrics) in {reply['wall_s']:.1f} s, server CPU {cpu:.1f} s",
        flush=True,
    )
    reply, cpu = measure(c, {"op": "setup_history", "points": sizes.history_points})
    c.history_run = str(reply["run_id"])
    c.setup["history_wall_s"] = float(reply["wall_s"])
    c.setup["history_cpu_s"] = cpu
    print(
        f"[{c.name}] setup: history of {sizes.history_points} points in "
        f"{reply['wall_s']:.1f} s, server CPU {cpu:.1f} s",
        flush=True,
    )


def _wall(reply: dict[str, Any]) -> float:
    return float(reply["wall_s"])


def run_round(c: Contestant, sizes: Sizes, round_index: int) -> None:
    """One round of every operation on one server; records one value per figure."""
    started = time.monotonic()

    run_id = c.worker.call({"op": "new_run", "name": f"log-metric-{round_index}"})["run_id"]
    reply, cpu = measure(c, {"op": "log_metric", "run_id": run_id, "calls": sizes.log_metric_calls})
    calls = sizes.log_metric_calls
    c.record("log_metric_calls_per_s", calls / _wall(reply))
    c.record("log_metric_cpu_ms_per_call", cpu * 1000 / calls)

    run_id = c.worker.call({"op": "new_run", "name": f"log-batch-{round_index}"})["run_id"]
    reply, cpu = measure(
        c,
        {
            "op": "log_batch",
            "run_id": run_id,
            "batches": sizes.log_batch_batches,
            "points": sizes.batch_points,
        },
    )
    batches = sizes.log_batch_batches
    c.record("log_batch_points_per_s", batches * sizes.batch_points / _wall(reply))
    c.record("log_batch_cpu_ms_per_batch", cpu * 1000 / batches)

    reply, cpu = measure(
        c,
        {
            "op": "search",
            "experiment_id": c.search_experiment,
            "filter": sizes.search_filter,
            "max_results": sizes.search_max_results,
            "params": sizes.search_params,
            "metrics": sizes.search_metrics,
        },
    )
    if reply["count"] != c.expected_matches or not reply["complete"]:
        raise BenchmarkError(
            f"{c.name}: search_runs({sizes.search_filter!r}) returned {reply['count']} runs "
            f"(complete params/metrics: {reply['complete']}), expected {c.expected_matches}"
        )
    c.record("search_s", _wall(reply))
    c.record("search_cpu_s", cpu)

    reply, cpu = measure(c, {"op": "history", "run_id": c.history_run})
    if reply["count"] != sizes.history_points or not reply["complete"]:
        raise BenchmarkError(
            f"{c.name}: get_metric_history returned {reply['count']} points "
            f"(steps complete: {reply['complete']}), expected {sizes.history_points}"
        )
    c.record("history_s", _wall(reply))
    c.record("history_cpu_s", cpu)

    finished = time.monotonic()
    c.record("peak_rss_mb", c.sampler.peak(started, finished) / 2**20)
    print(
        f"[round {round_index + 1}] {c.name:8s} "
        f"log_metric {format_number(c.figures['log_metric_calls_per_s'][-1])} calls/s "
        f"({format_number(c.figures['log_metric_cpu_ms_per_call'][-1])} ms CPU/call) | "
        f"log_batch {format_number(c.figures['log_batch_points_per_s'][-1])} points/s "
        f"({format_number(c.figures['log_batch_cpu_ms_per_batch'][-1])} ms CPU/batch) | "
        f"search {format_number(c.figures['search_s'][-1])} s "
        f"({format_number(c.figures['search_cpu_s'][-1])} s CPU) | "
        f"history {format_number(c.figures['history_s'][-1])} s "
        f"({format_number(c.figures['history_cpu_s'][-1])} s CPU) | "
        f"peak {format_number(c.figures['peak_rss_mb'][-1])} MB",
        flush=True,
    )


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

# figure, unit, target; the order of the table
FIGURES: tuple[tuple[str, str, Target | None], ...] = (
    ("log_metric_calls_per_s", "calls/s", E2E),
    ("log_metric_cpu_ms_per_call", "ms CPU/call", CPU),
    ("log_batch_points_per_s", "points/s", E2E),
    ("log_batch_cpu_ms_per_batch", "ms CPU/batch", CPU),
    ("search_s", "s", E2E_TIME),
    ("search_cpu_s", "s CPU", CPU),
    ("history_s", "s", E2E_TIME),
    ("history_cpu_s", "s CPU", CPU),
    ("peak_rss_mb", "MB (round)", None),
    ("peak_rss_run_mb", "MB (run)", MEMORY),
    ("ready_s", "s to /health", None),
)


def rows(by_name: dict[str, Contestant]) -> list[Row]:
    """The table rows; a side that did not run (``--only``) stays empty."""
    out = []
    for figure, unit, target in FIGURES:
        values = {name: c.figures.get(figure, []) for name, c in by_name.items()}
        out.append(
            Row(
                name=figure,
                unit=unit,
                anchor=values.get("mlflow", []),
                moorline=values.get("moorline", []),
                target=target,
            )
        )
    return out


def report(by_name: dict[str, Contestant], sizes: Sizes, args: argparse.Namespace) -> Path:
    """Print the final table and write the JSON results; return the JSON path."""
    for c in by_name.values():
        c.figures["peak_rss_run_mb"] = [c.sampler.peak() / 2**20]
        c.figures["ready_s"] = [c.ready_s]
    table_rows = rows(by_name)
    print()
    print(
        f"tracking benchmark: {args.rounds} round(s), "
        f"{'quick' if args.quick else 'full'} sizes; median [min..max] over rounds; "
        "ratio = moorline / mlflow per round"
    )
    print(ratio_table(table_rows, anchor="mlflow"))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"tracking-{stamp}.json"
    document = {
        "benchmark": "tracking",
        "created": stamp,
        "rounds": args.rounds,
        "quick": args.quick,
        "contestants": list(by_name),
        "anchor": "mlflow",
        "ratio": "moorline / anchor, per round",
        "sizes": {**asdict(sizes), "search_filter": sizes.search_filter},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"mlflow": MLFLOW_VERSION, "moorline_git": git_revision()},
        "setup": {name: c.setup for name, c in by_name.items()},
        "expected_search_matches": {name: c.expected_matches for name, c in by_name.items()},
        "figures": [row.as_dict() for row in table_rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the cleanup that stops the servers still runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous: Callable[[int, FrameType | None], object] | int | None = signal.signal(
        signal.SIGTERM, handler
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str] | None, *, description: str | None = None) -> argparse.Namespace:
    """Options shared by the server benchmarks (tracking, registry)."""
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--only", choices=CONTESTANTS, help="run a single server (debugging)")
    parser.add_argument(
        "--moorline-bin",
        type=Path,
        default=REPO / ".venv" / "bin" / "moorline",
        help="the moorline executable (default: the repo's .venv)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (databases, logs)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.only != "mlflow" and not args.moorline_bin.exists():
        parser.error(
            f"moorline executable {args.moorline_bin} does not exist: run `make` first, "
            "pass --moorline-bin, or use --only mlflow"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    names = [args.only] if args.only else list(CONTESTANTS)
    mlflow_python = ensure_venv(MLFLOW_ENV, [f"mlflow=={MLFLOW_VERSION}"])
    workdir = Path(tempfile.mkdtemp(prefix="moorline-bench-tracking-"))
    print(f"[bench] working directory {workdir}", flush=True)
    keep = args.keep
    try:
        with sigterm_unwinds(), contextlib.ExitStack() as stack:
            by_name: dict[str, Contestant] = {}
            for name in names:
                server = (
                    mlflow_server(workdir / name, mlflow_python.parent / "mlflow")
                    if name == "mlflow"
                    else moorline_server(workdir / name, args.moorline_bin)
                )
                by_name[name] = start(stack, server, mlflow_python, workdir)
            for c in by_name.values():
                setup(c, sizes)
            if len(by_name) == 2:
                expected = {c.expected_matches for c in by_name.values()}
                if len(expected) != 1:
                    raise BenchmarkError(f"the servers' datasets differ: {expected}")
            for round_index, name in interleave(names, args.rounds):
                run_round(by_name[name], sizes, round_index)
            for c in by_name.values():
                c.server.check_alive()
            report(by_name, sizes, args)
    except Exception:
        keep = True  # the servers' and clients' logs explain the failure
        raise
    finally:
        if keep:
            print(f"[bench] kept {workdir} (databases and logs)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("[bench] interrupted; every server it started was stopped", file=sys.stderr)
        sys.exit(130)
    except (ServerError, WorkerError, BenchmarkError) as error:
        print(f"[bench] error: {error}", file=sys.stderr)
        sys.exit(1)
