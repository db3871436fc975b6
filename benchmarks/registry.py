"""Side-by-side benchmark: moorline's model registry against a real ``mlflow server``'s.

Issue #3's workload: register 1,000 versions, search them, resolve an alias; moorline must be
at least 5x MLflow on each. Both servers run on loopback with a SQLite store and a local
artifact folder in a temporary directory (started exactly as in ``tracking.py``), and both
are driven by the same unmodified MLflow client (3.17.2, from its own virtualenv under
``benchmarks/.envs/mlflow``, created on first use) through the registry's REST API. The
operations run interleaved, MLflow then moorline, for ``--rounds`` rounds; each is measured
as

* end-to-end wall time in the client, and
* the server's own CPU time: user + system of its whole process tree, read from /proc
  right before the request and right after the reply (steadier than wall time here),

and the server's resident memory (whole tree) is sampled every 50 ms all along.

Usage::

    .venv/bin/python benchmarks/registry.py                # full sizes, 3 rounds
    .venv/bin/python benchmarks/registry.py --quick        # smoke run, about a minute
    .venv/bin/python benchmarks/registry.py --only mlflow  # one server, no ratios

It prints one line per round and server, then a table of median [min..max] per server and
of the per-round ratio moorline / MLflow with the target it must meet, then the best
wall-time ratio the MLflow client's own cost allows (see :func:`client_bounds`), and writes
everything to ``benchmarks/results/registry-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    Row,
    RssSampler,
    Server,
    ServerError,
    Spread,
    Target,
    Worker,
    WorkerError,
    ensure_venv,
    format_number,
    git_revision,
    interleave,
    ratio_table,
    tree_cpu_seconds,
)
from tracking import (
    MLFLOW_ENV,
    MLFLOW_VERSION,
    SAMPLE_INTERVAL_S,
    SETTLE_S,
    mlflow_server,
    moorline_server,
    sigterm_unwinds,
)
from tracking import (
    parse_args as tracking_parse_args,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIENT_SCRIPT = HERE / "_registry_client.py"
RESULTS = HERE / "results"
CONTESTANTS = ("mlflow", "moorline")
CATALOG_PREFIX = "catalog-"
ALIAS = "champion"

# Issue #3: "at least 5x MLflow on each" operation. The server CPU rows hold moorline to
# the same factor: a fifth of MLflow's CPU for the same work.
FASTER = Target(op=">=", bound=5.0, label=">= 5x faster")
FASTER_TIME = Target(op="<=", bound=0.2, label="<= 0.20 (5x faster)")
CPU = Target(op="<=", bound=0.2, label="<= 0.20")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How much work each operation does; ``--quick`` shrinks everything for a smoke run."""

    versions: int = 1000
    version_searches: int = 20
    catalog_models: int = 200
    catalog_versions: int = 2
    model_searches: int = 20
    alias_calls: int = 500

    @property
    def alias_version(self) -> int:
        """The version the alias points at: neither the first nor the latest, so a server
        that answers with either is caught."""
        return max(1, self.versions * 7 // 10)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            versions=100, version_searches=5, catalog_models=30, model_searches=5, alias_calls=100
        )


@dataclass
class Contestant:
    """One server under test, its client worker, and everything measured on it."""

    name: str
    server: Server
    worker: Worker
    sampler: RssSampler
    ready_s: float = 0.0
    run_id: str = ""
    source: str = ""
    setup: dict[str, float] = field(default_factory=dict)
    # figure name -> one value per round
    figures: dict[str, list[float]] = field(default_factory=dict)

    def record(self, figure: str, value: float) -> None:
        self.figures.setdefault(figure, []).append(value)


class BenchmarkError(RuntimeError):
    """A server gave a wrong answer, so its timings would mean nothing."""


# --------------------------------------------------------------------------------------
# Servers and measurements
# --------------------------------------------------------------------------------------


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


def measure(c: Contestant, request: dict[str, object]) -> tuple[dict[str, Any], float]:
    """Run one client operation; return its reply and the server tree's CPU seconds for it.

    The client worker's own CPU seconds go into the reply as ``client_cpu_s``: the MLflow
    client spends milliseconds of its own on every call, the same for both servers, and
    that sets a ceiling on any wall-time ratio (see the README).
    """
    c.server.check_alive()
    cpu_before = tree_cpu_seconds(c.server.pid)
    client_before = tree_cpu_seconds(c.worker.process.pid)
    reply = c.worker.call(request)
    client_after = tree_cpu_seconds(c.worker.process.pid)
    time.sleep(SETTLE_S)
    cpu_after = tree_cpu_seconds(c.server.pid)
    reply["client_cpu_s"] = client_after - client_before
    return reply, cpu_after - cpu_before


def setup(c: Contestant, sizes: Sizes) -> None:
    """The run every version points at and the catalog ``search_registered_models`` lists;
    done once per server, outside the rounds."""
    reply, cpu = measure(c, {"op": "setup_run"})
    expected_files = ["model/MLmodel", "model/weights.json"]
    if reply["files"] != expected_files:
        raise BenchmarkError(
            f"{c.name}: the run's model directory lists {reply['files']}, expected {expected_files}"
        )
    c.run_id, c.source = str(reply["run_id"]), str(reply["source"])
    c.setup["run_cpu_s"] = cpu
    reply, cpu = measure(
        c,
        {
            "op": "setup_catalog",
            "prefix": CATALOG_PREFIX,
            "models": sizes.catalog_models,
            "versions": sizes.catalog_versions,
            "source": c.source,
            "run_id": c.run_id,
        },
    )
    c.setup["catalog_wall_s"] = float(reply["wall_s"])
    c.setup["catalog_cpu_s"] = cpu
    print(
        f"[{c.name}] setup: run {c.run_id} with a model directory; catalog of "
        f"{sizes.catalog_models} models x {sizes.catalog_versions} versions + alias in "
        f"{reply['wall_s']:.1f} s, server CPU {cpu:.1f} s",
        flush=True,
    )


def _wall(reply: dict[str, Any]) -> float:
    return float(reply["wall_s"])


def run_round(c: Contestant, sizes: Sizes, round_index: int) -> None:
    """One round of every operation on one server; records one value per figure."""
    started = time.monotonic()
    name = f"bench-versions-r{round_index + 1}"
    c.worker.call({"op": "create_model", "name": name})

    # (1) register
    reply, cpu = measure(
        c,
        {
            "op": "register",
            "name": name,
            "source": c.source,
            "run_id": c.run_id,
            "versions": sizes.versions,
        },
    )
    if reply["count"] != sizes.versions or not reply["in_order"]:
        raise BenchmarkError(
            f"{c.name}: create_model_version x {sizes.versions} gave {reply['count']} versions "
            f"(numbered 1..{sizes.versions}, READY, with source and run: {reply['in_order']})"
        )
    c.record("register_versions_per_s", sizes.versions / _wall(reply))
    c.record("register_cpu_ms_per_version", cpu * 1000 / sizes.versions)
    c.record("register_client_cpu_ms_per_version", reply["client_cpu_s"] * 1000 / sizes.versions)

    # (2) search the versions just registered, then the catalog of registered models
    reply, cpu = measure(
        c,
        {
            "op": "search_versions",
            "name": name,
            "expected": sizes.versions,
            "max_results": sizes.versions,
            "repeat": sizes.version_searches,
            "source": c.source,
            "run_id": c.run_id,
        },
    )
    if reply["count"] != sizes.versions or not reply["complete"]:
        raise BenchmarkError(
            f"{c.name}: search_model_versions(name = '{name}') returned {reply['count']} "
            f"versions (exactly 1..{sizes.versions} with source and run: {reply['complete']}), "
            f"expected {sizes.versions}"
        )
    searches = sizes.version_searches
    c.record("search_versions_ms", _wall(reply) * 1000 / searches)
    c.record("search_versions_cpu_ms", cpu * 1000 / searches)
    c.record("search_versions_client_cpu_ms", reply["client_cpu_s"] * 1000 / searches)

    reply, cpu = measure(
        c,
        {
            "op": "search_models",
            "prefix": CATALOG_PREFIX,
            "models": sizes.catalog_models,
            "versions": sizes.catalog_versions,
            "max_results": sizes.catalog_models,
            "repeat": sizes.model_searches,
        },
    )
    if reply["count"] != sizes.catalog_models or not reply["complete"]:
        raise BenchmarkError(
            f"{c.name}: search_registered_models(name LIKE '{CATALOG_PREFIX}%') returned "
            f"{reply['count']} models (every name with its tag and latest version: "
            f"{reply['complete']}), expected {sizes.catalog_models}"
        )
    searches = sizes.model_searches
    c.record("search_models_ms", _wall(reply) * 1000 / searches)
    c.record("search_models_cpu_ms", cpu * 1000 / searches)
    c.record("search_models_client_cpu_ms", reply["client_cpu_s"] * 1000 / searches)

    # (3) resolve an alias
    c.worker.call({"op": "set_alias", "name": name, "alias": ALIAS, "version": sizes.alias_version})
    reply, cpu = measure(
        c,
        {
            "op": "resolve_alias",
            "name": name,
            "alias": ALIAS,
            "version": sizes.alias_version,
            "calls": sizes.alias_calls,
            "source": c.source,
            "run_id": c.run_id,
        },
    )
    if reply["correct"] != sizes.alias_calls:
        raise BenchmarkError(
            f"{c.name}: get_model_version_by_alias({name!r}, {ALIAS!r}) named version "
            f"{sizes.alias_version} with its alias, source and run in {reply['correct']} of "
            f"{reply['count']} calls"
        )
    c.record("alias_calls_per_s", sizes.alias_calls / _wall(reply))
    c.record("alias_cpu_ms_per_call", cpu * 1000 / sizes.alias_calls)
    c.record("alias_client_cpu_ms_per_call", reply["client_cpu_s"] * 1000 / sizes.alias_calls)

    finished = time.monotonic()
    c.record("peak_rss_mb", c.sampler.peak(started, finished) / 2**20)
    f = {key: format_number(values[-1]) for key, values in c.figures.items()}
    print(
        f"[round {round_index + 1}] {c.name:8s} "
        f"register {f['register_versions_per_s']} versions/s "
        f"({f['register_cpu_ms_per_version']} ms CPU/version) | "
        f"search versions {f['search_versions_ms']} ms ({f['search_versions_cpu_ms']} ms CPU) | "
        f"search models {f['search_models_ms']} ms ({f['search_models_cpu_ms']} ms CPU) | "
        f"alias {f['alias_calls_per_s']} calls/s ({f['alias_cpu_ms_per_call']} ms CPU/call) | "
        f"peak {f['peak_rss_mb']} MB",
        flush=True,
    )


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

# figure, unit, target; the order of the table
FIGURES: tuple[tuple[str, str, Target | None], ...] = (
    ("register_versions_per_s", "versions/s", FASTER),
    ("register_cpu_ms_per_version", "ms CPU/version", CPU),
    ("search_versions_ms", "ms/search", FASTER_TIME),
    ("search_versions_cpu_ms", "ms CPU/search", CPU),
    ("search_models_ms", "ms/search", FASTER_TIME),
    ("search_models_cpu_ms", "ms CPU/search", CPU),
    ("alias_calls_per_s", "calls/s", FASTER),
    ("alias_cpu_ms_per_call", "ms CPU/call", CPU),
    # The MLflow client's own CPU for the same operations: equal work on both sides,
    # shown because it bounds the wall-time ratios above.
    ("register_client_cpu_ms_per_version", "ms client CPU", None),
    ("search_versions_client_cpu_ms", "ms client CPU", None),
    ("search_models_client_cpu_ms", "ms client CPU", None),
    ("alias_client_cpu_ms_per_call", "ms client CPU", None),
    ("peak_rss_mb", "MB (round)", None),
    ("peak_rss_run_mb", "MB (run)", None),
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


# wall-time figure, the client CPU figure of the same operation, whether the figure is a
# rate (items/s, bigger is better) or a time (ms, smaller is better)
CLIENT_BOUNDS: tuple[tuple[str, str, bool], ...] = (
    ("register_versions_per_s", "register_client_cpu_ms_per_version", True),
    ("search_versions_ms", "search_versions_client_cpu_ms", False),
    ("search_models_ms", "search_models_client_cpu_ms", False),
    ("alias_calls_per_s", "alias_client_cpu_ms_per_call", True),
)


def client_bounds(by_name: dict[str, Contestant]) -> list[dict[str, object]]:
    """The best wall-time ratio the MLflow client itself allows, per round.

    The client is single-threaded, so moorline's wall time per item is at least the
    client's own CPU time per item, even for a server that answered in no time. Against
    MLflow's measured wall time in the same round, that bounds the ratio: for a rate,
    ``ratio <= anchor seconds per item / client CPU seconds per item``; for a time,
    ``ratio >= client CPU / anchor time``. A target beyond the median bound cannot be met
    through this client, whatever the server does (``target_reachable`` is False).
    """
    if "mlflow" not in by_name or "moorline" not in by_name:
        return []
    anchor, ours = by_name["mlflow"].figures, by_name["moorline"].figures
    out: list[dict[str, object]] = []
    for wall_figure, client_figure, is_rate in CLIENT_BOUNDS:
        pairs = zip(anchor[wall_figure], ours[client_figure], strict=True)
        if is_rate:  # anchor items/s against client ms/item
            bounds = [
                1000 / (rate * client_ms) if client_ms else math.inf for rate, client_ms in pairs
            ]
        else:  # anchor ms against client ms
            bounds = [client_ms / wall_ms for wall_ms, client_ms in pairs]
        target = next(t for name, _, t in FIGURES if name == wall_figure)
        spread = Spread.of(bounds)
        out.append(
            {
                "figure": wall_figure,
                "bound": "max ratio" if is_rate else "min ratio",
                "rounds": bounds,
                **spread.as_dict(),
                "text": f"{format_number(spread.median)} "
                f"[{format_number(spread.min)}..{format_number(spread.max)}]",
                "target_reachable": target is None or target.met(spread.median),
            }
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
        f"registry benchmark: {args.rounds} round(s), "
        f"{'quick' if args.quick else 'full'} sizes ({sizes.versions} versions per round, "
        f"{sizes.catalog_models} catalog models); median [min..max] over rounds; "
        "ratio = moorline / mlflow per round"
    )
    print(ratio_table(table_rows, anchor="mlflow"))
    bounds = client_bounds(by_name)
    if bounds:
        print(
            "\nbound set by the MLflow client alone (its CPU per item with moorline, against "
            "MLflow's wall time; a server at zero cost could not do better):"
        )
        for b in bounds:
            reachable = "reachable" if b["target_reachable"] else "UNREACHABLE"
            print(f"  {b['figure']:24s} {b['bound']} {b['text']}  target {reachable}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"registry-{stamp}.json"
    document = {
        "benchmark": "registry",
        "created": stamp,
        "rounds": args.rounds,
        "quick": args.quick,
        "contestants": list(by_name),
        "anchor": "mlflow",
        "ratio": "moorline / anchor, per round",
        "sizes": {**asdict(sizes), "alias_version": sizes.alias_version},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {"mlflow": MLFLOW_VERSION, "moorline_git": git_revision()},
        "setup": {name: c.setup for name, c in by_name.items()},
        "figures": [row.as_dict() for row in table_rows],
        "client_bounds": bounds,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults written to {path}")
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return tracking_parse_args(argv, description=__doc__.split("\n\n")[0])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    names = [args.only] if args.only else list(CONTESTANTS)
    mlflow_python = ensure_venv(MLFLOW_ENV, [f"mlflow=={MLFLOW_VERSION}"])
    workdir = Path(tempfile.mkdtemp(prefix="moorline-bench-registry-"))
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
