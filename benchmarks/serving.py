"""Side-by-side benchmark: ``moorline serve`` against BentoML 1.4.40 and ``mlflow models serve``.

Issue #5's workload. The same two scikit-learn models, trained once per run with a fixed seed
on the 30 features of scikit-learn's breast cancer data (``_serving_models.py``): a scaled
logistic regression (``StandardScaler`` + ``LogisticRegression``) and a 100-tree random
forest, each saved for each server in its own format:

* **moorline**: logged and registered with the moorline SDK into a temporary
  ``MOORLINE_HOME`` (SQLite store), one deployment per model with prediction logging on
  (``log_sample=1.0``), served by ``moorline serve``;
* **BentoML 1.4.40** (its own virtualenv ``benchmarks/.envs/bentoml``, created on first
  use): ``bentoml.sklearn.save_model``, served by a new-style ``@bentoml.service`` with one
  batchable ``@bentoml.api`` per model (adaptive batching; ``_serving_bentoml.py``, copied
  into the run's temporary directory);
* **MLflow 3.17.2** (the project's virtualenv): ``mlflow.sklearn.save_model``, one
  ``mlflow models serve --env-manager local`` per model (it serves one model per process).

One load generator drives them all: ``hey`` (Debian's package, ``/usr/bin/hey``), POSTing the
same single-row body ``{"inputs": [[30 floats]]}`` at each concurrency (1, 16 and 64 by
default) for ``--duration`` seconds after a warm-up at the same concurrency. Per measurement:
requests/s (200 answers only), p50 and p99 latency (hey's summary), the server's CPU per
request (user + system of its whole process tree from ``/proc``, before and after), hey's own
CPU per request, and the peak resident memory of the server's tree (sampled every 50 ms),
also per worker. Servers are interleaved within every round (the order rotates each round)
and each figure is reported as median [min..max] over rounds, with the per-round ratio
moorline / best anchor. A second phase restarts moorline and BentoML with ``--workers`` 2
and measures them at the highest concurrency. Every server's answers are checked against
the models' own predictions before any timing counts.

Usage::

    .venv/bin/python benchmarks/serving.py                   # 3 rounds, 10 s per measurement
    .venv/bin/python benchmarks/serving.py --quick           # 1 round, 3 s: a smoke run
    .venv/bin/python benchmarks/serving.py --only bentoml,mlflow --concurrency 1,64
    .venv/bin/python benchmarks/serving.py -n 2000 --workers 1   # fixed request counts

It prints one line per measurement, a table per model and worker count, the in-process
floor, and the pass/fail of each of issue #5's targets, and writes everything to
``benchmarks/results/serving-<git revision>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    RssSampler,
    Server,
    ServerError,
    Spread,
    ensure_venv,
    format_number,
    free_port,
    git_revision,
    process_tree,
    stop_process_tree,
    tree_cpu_seconds,
    tree_rss_bytes,
)
from tracking import sigterm_unwinds

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
LOCK = REPO / "requirements" / "dev.lock"
BENTOML_VERSION = "1.4.40"
MLFLOW_VERSION = "3.17.2"
BENTOML_ENV = HERE / ".envs" / "bentoml"
MODELS_SCRIPT = HERE / "_serving_models.py"
BENTOML_SCRIPT = HERE / "_serving_bentoml.py"
HEY = "/usr/bin/hey"

CONTESTANTS = ("moorline", "bentoml", "mlflow")
ANCHORS = ("bentoml", "mlflow")
#: Contestants of the multi-worker phase (issue #5 compares moorline with BentoML there).
MULTI_WORKER = ("moorline", "bentoml")
MODELS = ("lr", "forest")
MODEL_LABELS = {"lr": "logistic regression", "forest": "random forest"}
#: Registered model, deployment, BentoML model and MLflow folder name of each model.
NAMES = {"lr": "bench-lr", "forest": "bench-forest"}

# After hey exits, give the server this long to finish what it does after answering
# (access logs, buffered prediction logs) before its CPU time is read again.
SETTLE_S = 1.0
SAMPLE_INTERVAL_S = 0.05
READY_POLL_S = 0.02
READY_TIMEOUT_S = 180.0
HEY_TIMEOUT_S = 20
#: hey places the 99th percentile only with 100 answers or more.
MIN_ANSWERS = 100

# Issue #5's targets.
RPS_TARGET = {"forest": 3.0, "lr": 2.0}
MEMORY_MB_PER_WORKER = 250.0
READY_TARGET_S = 2.5
TARGET_CONCURRENCY = 64


class BenchmarkError(RuntimeError):
    """A server gave a wrong answer or failed every request, or hey failed."""


class Unavailable(BenchmarkError):
    """A server answered 503: up, but not (yet) able to serve the request."""


# --------------------------------------------------------------------------------------
# hey: run it, read its summary
# --------------------------------------------------------------------------------------

_TOTAL = re.compile(r"^\s*Total:\s+([0-9.]+) secs", re.MULTILINE)
_RPS = re.compile(r"^\s*Requests/sec:\s+(\S+)", re.MULTILINE)
_AVERAGE = re.compile(r"^\s*Average:\s+([0-9.]+) secs", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+)% in ([0-9.]+) secs", re.MULTILINE)
_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
_ERROR = re.compile(r"^\s*\[(\d+)\]\s+(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeyResult:
    """What hey's summary says about one load run.

    hey's own ``Requests/sec`` counts every answer and every failed request; ``ok_per_s``
    counts only the 200 answers. Latency percentiles cover the requests that got an HTTP
    answer (any status), in seconds with hey's resolution of 0.1 ms; hey places the p-th
    percentile only with at least 100 / (100 - p) answers (p99: 100).
    """

    total_s: float
    requests_per_s: float
    average_s: float | None
    percentiles_s: Mapping[int, float]
    status_codes: Mapping[int, int]
    errors: Mapping[str, int]

    @property
    def answered(self) -> int:
        return sum(self.status_codes.values())

    @property
    def ok(self) -> int:
        return self.status_codes.get(200, 0)

    @property
    def failed(self) -> int:
        """Requests without a 200: other statuses (503, 429...) and transport errors."""
        return self.answered - self.ok + sum(self.errors.values())

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.total_s if self.total_s > 0 else 0.0

    def percentile_ms(self, percentile: int) -> float:
        if percentile not in self.percentiles_s:
            raise BenchmarkError(f"hey printed no {percentile}% latency (no request answered?)")
        return self.percentiles_s[percentile] * 1000


def parse_hey_summary(text: str) -> HeyResult:
    """Read hey's default (summary) output.

    >>> r = parse_hey_summary('''
    ... Summary:
    ...   Total:	2.0000 secs
    ...   Requests/sec:	50.0000
    ...   Average:	0.0020 secs
    ... Latency distribution:
    ...   50% in 0.0019 secs
    ...   99% in 0.0052 secs
    ... Status code distribution:
    ...   [200]	99 responses
    ...   [503]	1 responses
    ... ''')
    >>> r.ok, r.failed, r.ok_per_s, r.percentile_ms(99)
    (99, 1, 49.5, 5.2)
    """
    total = _TOTAL.search(text)
    rps = _RPS.search(text)
    if total is None or rps is None:
        raise BenchmarkError(f"not hey's summary output:\n{text[-2000:]}")
    average = _AVERAGE.search(text)
    head, _, error_part = text.partition("Error distribution:")
    return HeyResult(
        total_s=float(total.group(1)),
        requests_per_s=_float(rps.group(1)),
        average_s=float(average.group(1)) if average else None,
        # hey prints "0% in 0.0000 secs" for a percentile it could not place (the 99th
        # needs 100 answers or more).
        percentiles_s={
            int(m.group(1)): float(m.group(2))
            for m in _PERCENTILE.finditer(head)
            if int(m.group(1)) > 0
        },
        status_codes={int(m.group(1)): int(m.group(2)) for m in _STATUS.finditer(head)},
        errors={m.group(2): int(m.group(1)) for m in _ERROR.finditer(error_part)},
    )


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """How hey loads a server: concurrency and either a duration or a request count."""

    concurrency: int
    duration_s: float | None = None
    requests: int | None = None

    def argv(self, url: str, body: Path) -> list[str]:
        """hey's command line for one run (POST ``body`` as JSON to ``url``).

        >>> Load(concurrency=64, duration_s=2.5).argv("http://h/p", Path("b.json"))[-3:]
        ['-z', '2.5s', 'http://h/p']
        >>> Load(concurrency=64, requests=10).argv("http://h/p", Path("b.json"))[-3:]
        ['-n', '64', 'http://h/p']
        >>> Load(concurrency=64, requests=1000).argv("http://h/p", Path("b.json"))[-3:]
        ['-n', '1024', 'http://h/p']
        """
        argv = [HEY, "-c", str(self.concurrency), "-m", "POST", "-T", "application/json"]
        argv += ["-D", str(body), "-t", str(HEY_TIMEOUT_S)]
        if self.duration_s is not None:
            argv += ["-z", f"{self.duration_s:g}s"]
        else:
            # Each of hey's workers sends n // c requests (so hey refuses n < c): round up
            # to a multiple of the concurrency, so hey sends exactly the count it is given.
            workers = self.concurrency
            argv += ["-n", str(-(-(self.requests or 1) // workers) * workers)]
        return [*argv, url]


def run_hey(load: Load, url: str, body: Path, log: Path) -> tuple[HeyResult, float]:
    """Run hey to completion; return its summary and its own CPU seconds (user + system).

    hey runs in its own session (Ctrl-C reaches the benchmark, which stops it by pid);
    ``wait4`` reaps it and returns its resource usage.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            load.argv(url, body),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        stop_process_tree(process.pid, grace=2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, 0)
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if process.returncode != 0:
        raise BenchmarkError(f"hey exited with code {process.returncode}:\n{text[-2000:]}")
    return parse_hey_summary(text), usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------
# CPU accounting
# --------------------------------------------------------------------------------------


def per_request_ms(cpu_before_s: float, cpu_after_s: float, requests: int) -> float:
    """Milliseconds of CPU per request between two readings of a process tree's CPU time.

    >>> per_request_ms(12.0, 13.5, 3000)
    0.5
    """
    if requests <= 0:
        raise ValueError(f"need at least one request to divide the CPU time by, got {requests}")
    if cpu_after_s < cpu_before_s:
        raise ValueError(
            f"CPU time went backwards ({cpu_before_s} s -> {cpu_after_s} s): a process of "
            "the tree exited without being reaped inside it, so its time was lost"
        )
    return (cpu_after_s - cpu_before_s) * 1000 / requests


@dataclass
class TreeCpu:
    """CPU seconds a process tree spends between :meth:`start` and :meth:`stop`.

    Reads user + system time of ``pid`` and all its descendants (``tree_cpu_seconds``),
    so work a server hands to worker processes or threads is counted.
    """

    pid: int
    before_s: float = 0.0
    after_s: float = 0.0

    def start(self) -> TreeCpu:
        self.before_s = tree_cpu_seconds(self.pid)
        return self

    def stop(self) -> float:
        self.after_s = tree_cpu_seconds(self.pid)
        return self.after_s - self.before_s

    def per_request_ms(self, requests: int) -> float:
        return per_request_ms(self.before_s, self.after_s, requests)


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------


def predicted_labels(payload: object) -> list[int]:
    """The predicted labels in a server's JSON answer, whatever protocol it speaks.

    A bare list (BentoML), ``{"predictions": [...]}`` (MLflow's scoring protocol) or
    ``{"outputs": [{"data": [...]}]}`` (Open Inference Protocol v2); nested lists are
    flattened.

    >>> predicted_labels([1]), predicted_labels({"predictions": [[0], [1]]})
    ([1], [0, 1])
    >>> predicted_labels({"outputs": [{"name": "predict", "data": [1.0]}]})
    [1]
    """
    if isinstance(payload, dict):
        if "predictions" in payload:
            payload = payload["predictions"]
        elif payload.get("outputs"):
            payload = payload["outputs"][0].get("data")
    flat: list[int] = []

    def walk(value: object) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise BenchmarkError(f"not a predicted label: {value!r} in {payload!r}")
        elif value != int(value):
            raise BenchmarkError(f"not an integer class label: {value!r}")
        else:
            flat.append(int(value))

    walk(payload)
    return flat


def post_json(url: str, body: object, *, timeout: float = 30.0) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        kind = Unavailable if error.code == 503 else BenchmarkError
        raise kind(f"POST {url} answered {error.code}: {error.read()[:500]!r}") from None


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


@dataclass
class Running:
    """A started server, its memory sampler, how long it took to be ready, what it serves."""

    contestant: str
    label: str
    workers: int
    server: Server
    sampler: RssSampler
    started: float
    ready_s: float
    infer_urls: dict[str, str]

    def stop(self) -> None:
        self.sampler.stop()
        self.server.stop()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """How to start one server: the process, where it says it is ready, what it serves."""

    contestant: str
    label: str
    workers: int
    server: Server
    ready_path: str
    infer_paths: Mapping[str, str]


def base_env() -> dict[str, str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTHONPATH", None)
    return env


def with_path(env: dict[str, str], bin_dir: Path) -> dict[str, str]:
    """``env`` with ``bin_dir`` first on PATH (``mlflow models serve`` execs ``uvicorn`` by
    name through a shell, and exits 127 without it)."""
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


def bentoml_spec(workdir: Path, python: Path, workers: int) -> ServerSpec:
    port = free_port()
    env = with_path(base_env(), python.parent)
    env["BENTOML_HOME"] = str(workdir / "bentoml" / "home")
    env["BENCH_BENTOML_WORKERS"] = str(workers)
    argv = [
        str(python.parent / "bentoml"),
        "serve",
        "bench_service:Classifier",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return ServerSpec(
        contestant="bentoml",
        label=f"bentoml-w{workers}",
        workers=workers,
        server=Server(
            name="bentoml",
            argv=argv,
            url=f"http://127.0.0.1:{port}",
            log_path=workdir / "logs" / f"bentoml-w{workers}.log",
            env=env,
            cwd=workdir / "bentoml",
        ),
        ready_path="/readyz",
        infer_paths={model: f"/predict_{model}" for model in MODELS},
    )


def mlflow_spec(workdir: Path, mlflow_bin: Path, model: str, model_path: str) -> ServerSpec:
    port = free_port()
    argv = [
        str(mlflow_bin),
        "models",
        "serve",
        "-m",
        model_path,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    return ServerSpec(
        contestant="mlflow",
        label=f"mlflow-{model}",
        workers=1,
        server=Server(
            name=f"mlflow-{model}",
            argv=argv,
            url=f"http://127.0.0.1:{port}",
            log_path=workdir / "logs" / f"mlflow-{model}.log",
            env=with_path(base_env(), mlflow_bin.parent),
            cwd=workdir,
        ),
        ready_path="/ping",
        infer_paths={model: "/invocations"},
    )


def moorline_spec(workdir: Path, moorline_bin: Path, workers: int) -> ServerSpec:
    """``moorline serve`` over the benchmark's MOORLINE_HOME (both deployments)."""
    port = free_port()
    env = moorline_env(workdir)
    argv = [
        str(moorline_bin),
        "serve",
        *(NAMES[model] for model in MODELS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return ServerSpec(
        contestant="moorline",
        label=f"moorline-w{workers}",
        workers=workers,
        server=Server(
            name="moorline",
            argv=argv,
            url=f"http://127.0.0.1:{port}",
            log_path=workdir / "logs" / f"moorline-w{workers}.log",
            env=env,
            cwd=workdir,
        ),
        ready_path="/v2/health/ready",
        infer_paths={model: f"/v1/deployments/{NAMES[model]}/predict" for model in MODELS},
    )


def moorline_env(workdir: Path) -> dict[str, str]:
    home = workdir / "moorline"
    env = base_env()
    for key in ("MOORLINE_TRACKING_URI", "MOORLINE_STORE_URI", "MOORLINE_ARTIFACTS_URI"):
        env.pop(key, None)
    env["MOORLINE_HOME"] = str(home)
    return env


def wait_ready(server: Server, path: str, *, started: float, timeout: float) -> float:
    """Poll ``GET path`` every 20 ms until it answers 200; return seconds since ``started``.

    Finer than :meth:`Server.wait_ready` (100 ms), since issue #5 bounds ready time at 2.5 s.
    """
    deadline = started + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(READY_POLL_S)
    raise ServerError(
        f"{server.name} did not answer {path} within {timeout:.0f} s; log "
        f"{server.log_path}:\n{server.log_tail()}"
    )


def launch(stack: contextlib.ExitStack, spec: ServerSpec) -> Running:
    """Start a server, sample its memory, wait until it is ready; stop it when ``stack``
    closes (or earlier, through :meth:`Running.stop`)."""
    print(f"[{spec.label}] starting: {' '.join(spec.server.argv)}", flush=True)
    started = time.monotonic()
    spec.server.start()
    stack.callback(spec.server.stop)
    sampler = RssSampler(spec.server.pid, interval=SAMPLE_INTERVAL_S).start()
    stack.callback(sampler.stop)
    ready = wait_ready(spec.server, spec.ready_path, started=started, timeout=READY_TIMEOUT_S)
    print(f"[{spec.label}] ready at {spec.server.url} after {ready:.2f} s", flush=True)
    return Running(
        contestant=spec.contestant,
        label=spec.label,
        workers=spec.workers,
        server=spec.server,
        sampler=sampler,
        started=started,
        ready_s=ready,
        infer_urls={m: spec.server.url + p for m, p in spec.infer_paths.items()},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    """When a server first answered every checked row right, and how many 503s it gave
    after its ready endpoint said it was ready."""

    answers_s: float
    unavailable_after_ready: int


def check_answers(
    running: Running, rows: Sequence[Sequence[float]], expected: Mapping[str, Any]
) -> Answered:
    """Each checked row, sent alone as the benchmark sends it, must get the model's label.

    A 503 is retried (every 20 ms, until the start-up deadline) and counted: a ready
    endpoint may say 200 while a worker it does not speak for is still loading.
    """
    unavailable = 0
    deadline = running.started + READY_TIMEOUT_S
    for model, url in running.infer_urls.items():
        got = []
        for row in rows:
            while True:
                try:
                    answer = post_json(url, {"inputs": [list(row)]})
                    break
                except Unavailable:
                    unavailable += 1
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(READY_POLL_S)
            labels = predicted_labels(answer)
            if len(labels) != 1:
                raise BenchmarkError(f"{running.label} {model}: one row gave {labels}")
            got.extend(labels)
        if got != list(expected[model]):
            raise BenchmarkError(
                f"{running.label} {model}: predicted {got}, the model itself says "
                f"{list(expected[model])}"
            )
    answered = Answered(
        answers_s=time.monotonic() - running.started, unavailable_after_ready=unavailable
    )
    print(
        f"[{running.label}] {', '.join(running.infer_urls)}: {len(rows)} answers each match "
        f"the model; all answered {answered.answers_s:.2f} s after start"
        + (f" ({unavailable} answered 503 after ready)" if unavailable else ""),
        flush=True,
    )
    return answered


# --------------------------------------------------------------------------------------
# Set-up: models for every server
# --------------------------------------------------------------------------------------


def run_step(argv: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path) -> Any:
    """Run a set-up step to completion; return the JSON object on its last stdout line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as err:
        done = subprocess.run(
            list(argv), stdout=subprocess.PIPE, stderr=err, env=dict(env), cwd=cwd, check=False
        )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchmarkError(f"{' '.join(argv[:3])} exited with code {done.returncode}:\n{tail}")
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise BenchmarkError(f"{' '.join(argv[:3])} printed no JSON result: {lines[-5:]}") from None


def lock_pins(names: Sequence[str]) -> list[str]:
    """``name==version`` from requirements/dev.lock for each of ``names`` found there."""
    pins = {}
    if LOCK.exists():
        for line in LOCK.read_text().splitlines():
            name, _, version = line.strip().partition("==")
            if name.lower() in names and version:
                pins[name.lower()] = f"{name.lower()}=={version.split(';')[0].strip()}"
    return [pins[name] for name in names if name in pins]


def bentoml_requirements() -> list[str]:
    """BentoML plus the scikit-learn and NumPy of our lock: the models are pickled by the
    project's environment and must predict the same there."""
    return [f"bentoml=={BENTOML_VERSION}", *lock_pins(("scikit-learn", "numpy"))]


@dataclass
class Prepared:
    """What the set-up produced: the body, the checked rows and labels, the floor."""

    body: Path
    rows: list[list[float]]
    expected: dict[str, list[int]]
    floor: dict[str, dict[str, float]]
    versions: dict[str, str]
    mlflow_paths: dict[str, str] = field(default_factory=dict)
    moorline: dict[str, Any] = field(default_factory=dict)


def prepare(workdir: Path, names: Sequence[str], args: argparse.Namespace) -> Prepared:
    python = str(args.project_python)
    env = base_env()
    started = time.perf_counter()
    trained = run_step(
        [python, str(MODELS_SCRIPT), "train", str(workdir)],
        env=env,
        log=workdir / "logs" / "train.log",
        cwd=workdir,
    )
    print(f"[setup] trained both models in {time.perf_counter() - started:.1f} s", flush=True)
    prepared = Prepared(
        body=workdir / "body.json",
        rows=trained["rows"],
        expected=trained["expected"],
        floor=trained["floor"],
        versions=trained["versions"],
    )
    if "mlflow" in names:
        saved = run_step(
            [python, str(MODELS_SCRIPT), "mlflow", str(workdir)],
            env=env,
            log=workdir / "logs" / "save-mlflow.log",
            cwd=workdir,
        )
        prepared.mlflow_paths = saved["paths"]
        prepared.versions["mlflow"] = saved["mlflow"]
    if "bentoml" in names:
        folder = workdir / "bentoml"
        folder.mkdir()
        shutil.copyfile(BENTOML_SCRIPT, folder / "bench_service.py")
        bentoml_env = with_path(base_env(), args.bentoml_python.parent)
        bentoml_env["BENTOML_HOME"] = str(folder / "home")
        log = workdir / "logs" / "save-bentoml.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            subprocess.run(
                [str(args.bentoml_python), "bench_service.py", "save", str(workdir / "models.pkl")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=bentoml_env,
                cwd=folder,
                check=True,
            )
        prepared.versions["bentoml"] = BENTOML_VERSION
    if "moorline" in names:
        prepared.moorline = run_step(
            [python, str(MODELS_SCRIPT), "moorline", str(workdir)],
            env=moorline_env(workdir),
            log=workdir / "logs" / "save-moorline.log",
            cwd=workdir,
        )
    print(f"[setup] models saved for {', '.join(names)}", flush=True)
    return prepared


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------

#: figure -> (label in the table, unit); the order of the tables.
FIGURES: dict[str, tuple[str, str]] = {
    "rps": ("requests/s", "200s/s"),
    "p50_ms": ("p50 latency", "ms"),
    "p99_ms": ("p99 latency", "ms"),
    "cpu_ms_per_request": ("server CPU/request", "ms"),
    "client_cpu_ms_per_request": ("hey CPU/request", "ms"),
    "peak_rss_mb": ("peak memory", "MB"),
    "peak_rss_mb_per_worker": ("peak memory/worker", "MB"),
    "largest_process_mb": ("largest process", "MB"),
    "failed": ("failed requests", "count"),
}
#: Which way is better, for the ratio to the best anchor.
HIGHER_IS_BETTER = {"rps"}
RATIO_FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "peak_rss_mb")

Key = tuple[int, str, int, str]  # workers, model, concurrency, contestant


@dataclass
class Results:
    """Every figure of every measurement: key -> figure -> one value per round."""

    cells: dict[Key, dict[str, list[float]]] = field(default_factory=dict)
    ready_s: dict[str, float] = field(default_factory=dict)
    answered: dict[str, Answered] = field(default_factory=dict)
    run_peak_mb: dict[str, float] = field(default_factory=dict)

    def record(self, key: Key, figures: Mapping[str, float]) -> None:
        cell = self.cells.setdefault(key, {})
        for name, value in figures.items():
            cell.setdefault(name, []).append(value)

    def values(self, key: Key, figure: str) -> list[float]:
        return self.cells.get(key, {}).get(figure, [])


def measure(
    running: Running,
    model: str,
    *,
    load: Load,
    warmup: Load,
    body: Path,
    logs: Path,
) -> dict[str, float]:
    """Warm up, then one measured hey run; the figures of that run.

    A timed run that got fewer than :data:`MIN_ANSWERS` answers (a slow server on a short
    ``--duration``) is run again for exactly that many requests, so p99 exists.
    """
    url = running.infer_urls[model]
    tag = f"{running.label}-{model}-c{load.concurrency}"
    running.server.check_alive()
    window_start = time.monotonic()
    warm, _ = run_hey(warmup, url, body, logs / f"{tag}-warmup.txt")
    if warm.ok == 0:
        raise BenchmarkError(
            f"{running.label} {model}: no 200 answer in the warm-up ({dict(warm.status_codes)}, "
            f"{dict(warm.errors)}); log {running.server.log_path}:\n{running.server.log_tail()}"
        )
    attempts = [load, Load(concurrency=load.concurrency, requests=MIN_ANSWERS)]
    for attempt, timed in enumerate(attempts):
        cpu = TreeCpu(running.server.pid).start()
        result, client_cpu_s = run_hey(timed, url, body, logs / f"{tag}-{attempt}.txt")
        time.sleep(SETTLE_S)
        cpu.stop()
        if result.answered >= MIN_ANSWERS:
            break
        print(
            f"[{running.label}] {model} c={load.concurrency}: {result.answered} answers, "
            f"fewer than {MIN_ANSWERS}; measuring {MIN_ANSWERS} requests instead",
            flush=True,
        )
    running.server.check_alive()
    if result.ok == 0:
        raise BenchmarkError(
            f"{running.label} {model}: no 200 answer ({dict(result.status_codes)}, "
            f"{dict(result.errors)}); log {running.server.log_path}:\n{running.server.log_tail()}"
        )
    peak = running.sampler.peak(window_start, time.monotonic()) / 2**20
    largest = max(
        (tree_rss_bytes(pid, [pid]) for pid in process_tree(running.server.pid)), default=0
    )
    requests = result.answered + sum(result.errors.values())
    return {
        "rps": result.ok_per_s,
        "p50_ms": result.percentile_ms(50),
        "p95_ms": result.percentile_ms(95),
        "p99_ms": result.percentile_ms(99),
        "cpu_ms_per_request": cpu.per_request_ms(requests),
        "client_cpu_ms_per_request": client_cpu_s * 1000 / requests,
        "peak_rss_mb": peak,
        "peak_rss_mb_per_worker": peak / running.workers,
        "largest_process_mb": largest / 2**20,
        "failed": float(result.failed),
        "requests": float(requests),
        "duration_s": result.total_s,
    }


def rotate(names: Sequence[str], round_index: int) -> list[str]:
    """The contestants' order in a round: rotated by one each round, so no server always
    runs first after a pause (or right after the slowest one).

    >>> rotate(["a", "b", "c"], 0), rotate(["a", "b", "c"], 1), rotate(["a", "b", "c"], 4)
    (['a', 'b', 'c'], ['b', 'c', 'a'], ['b', 'c', 'a'])
    """
    shift = round_index % len(names)
    return [*names[shift:], *names[:shift]]


def print_measurement(round_index: int, key: Key, figures: Mapping[str, float]) -> None:
    workers, model, concurrency, contestant = key
    failed = int(figures["failed"])
    print(
        f"[round {round_index + 1} w{workers} {model:6s} c={concurrency:<3d}] {contestant:8s} "
        f"{format_number(figures['rps']):>6s} req/s | p50 {format_number(figures['p50_ms'])} ms"
        f" | p99 {format_number(figures['p99_ms'])} ms"
        f" | CPU {format_number(figures['cpu_ms_per_request'])} ms/req"
        f" (hey {format_number(figures['client_cpu_ms_per_request'])})"
        f" | peak {format_number(figures['peak_rss_mb'])} MB"
        + (f" | {failed} FAILED" if failed else ""),
        flush=True,
    )


def run_phase(
    results: Results,
    servers: Mapping[str, Mapping[str, Running]],
    *,
    workers: int,
    concurrencies: Sequence[int],
    args: argparse.Namespace,
    body: Path,
    logs: Path,
) -> None:
    """All rounds of one worker count: per round, model and concurrency, every contestant
    back to back (rotating order). ``servers``: contestant -> model -> the server of it."""
    names = list(servers)
    for round_index in range(args.rounds):
        for model in MODELS:
            for concurrency in concurrencies:
                load = Load(
                    concurrency=concurrency, duration_s=args.duration, requests=args.requests
                )
                warmup = Load(concurrency=concurrency, duration_s=args.warmup)
                for name in rotate(names, round_index):
                    key = (workers, model, concurrency, name)
                    running = servers[name][model]
                    figures = measure(
                        running, model, load=load, warmup=warmup, body=body, logs=logs
                    )
                    results.record(key, figures)
                    print_measurement(round_index, key, figures)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def best_anchor(results: Results, key: Key, figure: str) -> list[float]:
    """Per round, the best anchor's value of ``figure`` (highest rate, lowest cost)."""
    workers, model, concurrency, _ = key
    per_anchor = [
        results.values((workers, model, concurrency, anchor), figure) for anchor in ANCHORS
    ]
    per_anchor = [values for values in per_anchor if values]
    if not per_anchor:
        return []
    pick: Callable[..., float] = max if figure in HIGHER_IS_BETTER else min
    return [pick(values) for values in zip(*per_anchor, strict=False)]


def ratios(ours: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """moorline / anchor per round.

    >>> ratios([300.0, 330.0], [100.0, 110.0])
    [3.0, 3.0]
    """
    return [b / a if a else math.inf for a, b in zip(theirs, ours, strict=False)]


def spread_cell(values: Sequence[float]) -> str:
    if not values:
        return "-"
    s = Spread.of(values)
    return f"{format_number(s.median)} [{format_number(s.min)}..{format_number(s.max)}]"


def render(lines: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, a rule under the header.

    >>> print(render([("a", "bb"), ("ccc", "d")]))
    a    bb
    ---  --
    ccc  d
    """
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def phase_table(results: Results, workers: int, model: str, names: Sequence[str]) -> str:
    keys = sorted(
        {k for k in results.cells if k[0] == workers and k[1] == model}, key=lambda k: k[2]
    )
    concurrencies = sorted({k[2] for k in keys})
    lines: list[tuple[str, ...]] = [("c", "figure", "unit", *names, "moorline / best anchor")]
    for concurrency in concurrencies:
        for figure, (label, unit) in FIGURES.items():
            cells = [
                spread_cell(results.values((workers, model, concurrency, n), figure)) for n in names
            ]
            ratio = ""
            if figure in RATIO_FIGURES:
                ours = results.values((workers, model, concurrency, "moorline"), figure)
                theirs = best_anchor(results, (workers, model, concurrency, ""), figure)
                if ours and theirs:
                    ratio = spread_cell(ratios(ours, theirs))
            lines.append((str(concurrency), label, unit, *cells, ratio))
    return render(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One of issue #5's targets: what was measured and whether it is met (None: not run)."""

    target: str
    measured: str
    met: bool | None

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "measured": self.measured, "met": self.met}


def verdicts(results: Results, workers_list: Sequence[int], top: int) -> list[Verdict]:
    """Issue #5's targets, each judged on the median over rounds of the per-round ratio."""
    out: list[Verdict] = []

    def ratio_verdict(
        target: str, key: Key, figure: str, anchor_values: list[float], ok: Callable[[float], bool]
    ) -> None:
        ours = results.values(key, figure)
        if not ours or not anchor_values:
            out.append(Verdict(target=target, measured="not measured", met=None))
            return
        r = ratios(ours, anchor_values)
        out.append(
            Verdict(target=target, measured=f"ratio {spread_cell(r)}", met=ok(Spread.of(r).median))
        )

    c = TARGET_CONCURRENCY
    for model in ("forest", "lr"):
        need = RPS_TARGET[model]
        key = (1, model, c, "moorline")
        ratio_verdict(
            f"{model} c={c} 1 worker: requests/s >= {need:g}x best anchor",
            key,
            "rps",
            best_anchor(results, key, "rps"),
            lambda r, need=need: r >= need,
        )
        ratio_verdict(
            f"{model} c={c} 1 worker: p99 lower than every anchor",
            key,
            "p99_ms",
            best_anchor(results, key, "p99_ms"),
            lambda r: r < 1.0,
        )
    for model in ("forest", "lr"):
        key = (1, model, 1, "moorline")
        ratio_verdict(
            f"{model} c=1 1 worker: p50 lower than every anchor",
            key,
            "p50_ms",
            best_anchor(results, key, "p50_ms"),
            lambda r: r < 1.0,
        )
    for model in ("forest", "lr"):
        key = (2, model, top, "moorline")
        ratio_verdict(
            f"{model} c={top} 2 workers: requests/s higher than BentoML's 2 workers",
            key,
            "rps",
            results.values((2, model, top, "bentoml"), "rps"),
            lambda r: r > 1.0,
        )
    for workers in workers_list:
        target = f"memory <= {MEMORY_MB_PER_WORKER:g} MB per worker ({workers} worker(s))"
        peak = results.run_peak_mb.get(f"moorline-w{workers}")
        if peak is None:
            out.append(Verdict(target=target, measured="not measured", met=None))
            continue
        per_worker = peak / workers
        largest = [
            value
            for key, cell in results.cells.items()
            if key[0] == workers and key[3] == "moorline"
            for value in cell.get("largest_process_mb", [])
        ]
        out.append(
            Verdict(
                target=target,
                measured=f"{format_number(per_worker)} MB (tree peak {format_number(peak)} MB"
                + (f"; largest process {format_number(max(largest))} MB)" if largest else ")"),
                met=per_worker <= MEMORY_MB_PER_WORKER,
            )
        )
    starts = {label: v for label, v in results.ready_s.items() if label.startswith("moorline")}
    if not starts:
        out.append(
            Verdict(
                target=f"ready within {READY_TARGET_S:g} s of start",
                measured="not measured",
                met=None,
            )
        )
    for label, ready in starts.items():
        answered = results.answered.get(label)
        detail = f"{ready:.2f} s"
        if answered is not None:
            detail += f" (all answering {answered.answers_s:.2f} s"
            if answered.unavailable_after_ready:
                detail += f"; {answered.unavailable_after_ready} 503s after ready"
            detail += ")"
        out.append(
            Verdict(
                target=f"{label}: ready within {READY_TARGET_S:g} s of start",
                measured=detail,
                met=ready <= READY_TARGET_S,
            )
        )
    return out


def print_report(
    results: Results, prepared: Prepared, names: Sequence[str], args: argparse.Namespace
) -> list[Verdict]:
    print()
    print(
        f"serving benchmark: {args.rounds} round(s) of "
        + (f"{args.duration:g} s" if args.requests is None else f"{args.requests} requests")
        + f" per measurement after a {args.warmup:g} s warm-up; single-row requests; "
        "median [min..max] over rounds; ratio = moorline / best anchor, per round"
    )
    for workers in args.workers:
        present = [n for n in names if any(k[0] == workers and k[3] == n for k in results.cells)]
        if not present:
            continue
        for model in MODELS:
            print(f"\n== {MODEL_LABELS[model]}, {workers} worker(s) ==")
            print(phase_table(results, workers, model, present))
    print("\nin-process floor (predict in one process, no server):")
    for model in MODELS:
        floor = prepared.floor[model]
        print(
            f"  {MODEL_LABELS[model]:20s} {format_number(floor['single_rows_per_s'])} single "
            f"rows/s, {format_number(floor['batch64_rows_per_s'])} rows/s in batches of 64"
        )
    print(
        "\nstart-up: ready = spawn -> first 200 on the ready endpoint; answering = spawn -> "
        "every checked row answered right (503s retried)"
    )
    for label, ready in results.ready_s.items():
        answered = results.answered.get(label)
        print(
            f"  {label:14s} ready {ready:.2f} s"
            + (f", answering {answered.answers_s:.2f} s" if answered else "")
            + (
                f", {answered.unavailable_after_ready} answer(s) 503 after ready"
                if answered and answered.unavailable_after_ready
                else ""
            )
        )
    top = max(args.concurrency)
    found = verdicts(results, args.workers, top)
    print("\nissue #5 targets (prediction logging on; ratios per round, judged on the median):")
    lines = [("target", "measured", "met")]
    for v in found:
        lines.append((v.target, v.measured, "-" if v.met is None else ("ok" if v.met else "MISS")))
    print(render(lines))
    return found


def write_results(
    results: Results,
    prepared: Prepared,
    found: Sequence[Verdict],
    names: Sequence[str],
    args: argparse.Namespace,
) -> Path:
    revision = git_revision()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"serving-{(revision or 'unknown')[:12]}.json"
    cells = []
    for (workers, model, concurrency, contestant), figures in sorted(results.cells.items()):
        entry: dict[str, Any] = {
            "workers": workers,
            "model": model,
            "concurrency": concurrency,
            "contestant": contestant,
            "figures": {
                name: {"rounds": values, **Spread.of(values).as_dict()}
                for name, values in figures.items()
            },
        }
        if contestant == "moorline":
            key = (workers, model, concurrency, contestant)
            entry["ratio_to_best_anchor"] = {
                figure: {"rounds": r, **Spread.of(r).as_dict()}
                for figure in RATIO_FIGURES
                if (r := ratios(figures.get(figure, []), best_anchor(results, key, figure)))
            }
        cells.append(entry)
    document = {
        "benchmark": "serving",
        "created": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        "moorline_git": revision,
        "rounds": args.rounds,
        "quick": args.quick,
        "duration_s": args.duration,
        "requests": args.requests,
        "warmup_s": args.warmup,
        "settle_s": SETTLE_S,
        "concurrency": list(args.concurrency),
        "workers": list(args.workers),
        "contestants": list(names),
        "anchors": [n for n in names if n in ANCHORS],
        "ratio": "moorline / best anchor of the same round (highest requests/s, lowest cost)",
        "load_generator": HEY,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg": os.getloadavg(),
        },
        "versions": prepared.versions,
        "bentoml_requirements": bentoml_requirements(),
        "floor": prepared.floor,
        "expected_labels": prepared.expected,
        "moorline_setup": prepared.moorline,
        "ready_s": results.ready_s,
        "answering": {
            label: {"answers_s": a.answers_s, "unavailable_after_ready": a.unavailable_after_ready}
            for label, a in results.answered.items()
        },
        "run_peak_rss_mb": results.run_peak_mb,
        "cells": cells,
        "targets": [v.as_dict() for v in found],
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected integers of at least 1, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONTESTANTS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown server(s) {unknown or text!r}: use {', '.join(CONTESTANTS)}"
        )
    return [n for n in CONTESTANTS if n in names]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s: a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument(
        "--duration", type=float, help="seconds of load per measurement (default 10; quick 3)"
    )
    parser.add_argument(
        "-n", "--requests", type=int, help="requests per measurement instead of a duration"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds of warm-up before each measurement (default 2; quick 1)",
    )
    parser.add_argument(
        "--concurrency", type=_int_list, default=[1, 16, 64], help="comma list (default 1,16,64)"
    )
    parser.add_argument(
        "--only",
        type=_names,
        help="comma list of servers to run: moorline, bentoml, mlflow (default all)",
    )
    parser.add_argument(
        "--workers",
        type=_int_list,
        default=[1, 2],
        help="worker counts (default 1,2); counts above 1 run moorline and BentoML at the "
        "highest concurrency only",
    )
    parser.add_argument(
        "--moorline-bin",
        type=Path,
        default=REPO / ".venv" / "bin" / "moorline",
        help="the moorline executable (default: the repo's .venv)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    args.rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.requests is not None:
        if args.duration is not None:
            parser.error("give --duration or -n/--requests, not both")
        if args.requests < MIN_ANSWERS:
            parser.error(f"-n must be at least {MIN_ANSWERS} (for a p99), got {args.requests}")
    else:
        args.duration = (
            args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
        )
        if args.duration <= 0:
            parser.error(f"--duration must be positive, got {args.duration}")
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    if args.warmup <= 0:
        parser.error(f"--warmup must be positive, got {args.warmup}")
    args.names = args.only or list(CONTESTANTS)
    args.project_python = REPO / ".venv" / "bin" / "python"
    if not args.project_python.exists():
        parser.error(f"{args.project_python} does not exist: run `make` first")
    if "moorline" in args.names and not args.moorline_bin.exists():
        parser.error(
            f"moorline executable {args.moorline_bin} does not exist: run `make` first, "
            "pass --moorline-bin, or use --only bentoml,mlflow"
        )
    if not Path(HEY).exists():
        parser.error(f"{HEY} not found: install Debian's hey package (apt-get install hey)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names: list[str] = args.names
    if "bentoml" in names:
        args.bentoml_python = ensure_venv(BENTOML_ENV, bentoml_requirements())
    workdir = Path(tempfile.mkdtemp(prefix="moorline-bench-serving-"))
    logs = workdir / "logs"
    logs.mkdir()
    print(f"[bench] working directory {workdir}", flush=True)
    keep = args.keep
    results = Results()
    try:
        with sigterm_unwinds(), contextlib.ExitStack() as stack:
            prepared = prepare(workdir, names, args)
            mlflow_bin = args.project_python.parent / "mlflow"
            for workers in args.workers:
                phase_names = names if workers == 1 else [n for n in names if n in MULTI_WORKER]
                if not phase_names:
                    continue
                specs: list[ServerSpec] = []
                for name in phase_names:
                    if name == "bentoml":
                        specs.append(bentoml_spec(workdir, args.bentoml_python, workers))
                    elif name == "mlflow":
                        specs += [
                            mlflow_spec(workdir, mlflow_bin, m, prepared.mlflow_paths[m])
                            for m in MODELS
                        ]
                    else:
                        specs.append(moorline_spec(workdir, args.moorline_bin, workers))
                servers: dict[str, dict[str, Running]] = {}
                started: list[Running] = []
                for spec in specs:
                    running = launch(stack, spec)
                    started.append(running)
                    results.ready_s[spec.label] = running.ready_s
                    results.answered[spec.label] = check_answers(
                        running, prepared.rows, prepared.expected
                    )
                    for model in running.infer_urls:
                        servers.setdefault(spec.contestant, {})[model] = running
                concurrencies = args.concurrency if workers == 1 else [max(args.concurrency)]
                run_phase(
                    results,
                    servers,
                    workers=workers,
                    concurrencies=concurrencies,
                    args=args,
                    body=prepared.body,
                    logs=logs,
                )
                for running in started:
                    running.server.check_alive()
                    running.stop()
                    results.run_peak_mb[running.label] = running.sampler.peak() / 2**20
            found = print_report(results, prepared, names, args)
            path = write_results(results, prepared, found, names, args)
            print(f"\nresults written to {path}")
    except Exception:
        keep = True  # the servers' logs and hey's outputs explain the failure
        raise
    finally:
        if keep:
            print(f"[bench] kept {workdir} (models, logs, hey outputs)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("[bench] interrupted; every server it started was stopped", file=sys.stderr)
        sys.exit(130)
    except (ServerError, BenchmarkError, subprocess.CalledProcessError) as error:
        print(f"[bench] error: {error}", file=sys.stderr)
        sys.exit(1)
