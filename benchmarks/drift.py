"""Side-by-side benchmark: moorline's drift engine against Evidently 0.7.23's data drift report.

Both read the same seeded Parquet files (``_drift_data.py``: 15 numerical and 5 categorical
columns per block of 20, some drifted, with the edge cases of ``specs/drift-evidently.md``
section 7), written once per size into a temporary directory. Every measurement is a fresh
process, so its peak memory is its own: the parent reaps it with ``wait4`` and reads the
kernel's high-water mark of its resident memory (what ``/usr/bin/time -f %M`` prints) and its
user + system CPU time. Per round, interleaved:

* **evidently** (its own virtualenv ``benchmarks/.envs/evidently``, created on first use):
  ``Report([DataDriftPreset()], include_tests=True).run(current_data=cur,
  reference_data=ref)`` timed on its own, then the dict export timed separately
  (``_drift_evidently.py``; the tests carry the per-column verdicts and cost nothing extra);
* **moorline cold** (the project's ``.venv``): ``compute_drift(ref, cur, preset="evidently")``
  on the two files (``pyarrow.parquet.ParquetFile``: the library on files, reading one
  column at a time inside the timed call), the reference profile built inside the timed
  call too (``_drift_moorline.py cold``; ``--input pandas`` or ``arrow`` hands over frames
  read before the clock starts instead);
* **moorline CLI**: the command a user runs, ``moorline drift REF CUR --preset evidently
  --json OUT``, as its own process: its figures are the whole process's (interpreter,
  imports, reading, run, JSON), beside Evidently's whole process;
* **moorline warm**: a ``ReferenceProfile`` built and stored once by one process (``profile``),
  then a monitor process that loads it and times ``compute_drift(profile, window,
  preset="evidently")`` per window over ``--windows`` current windows (window 0 is the
  current frame Evidently sees; ``_drift_moorline.py warm``). Its anchor is the same
  Evidently run: Evidently has no stored reference, every window costs a full report.

Timings start after the imports on both sides: Evidently imports SciPy with ``evidently``;
moorline's engine imports SciPy only for the tests that need it, on first use; here one K-S
test does (``scipy.stats``), so its worker imports that before the clock starts. With
``--input file`` (the default) moorline reads the files inside its timed call, so
Evidently's timed figure is its reading (``pandas.read_parquet``, both files) plus its run;
with ``--input pandas``/``arrow`` both read before their clocks start. The whole process
(interpreter, imports, Parquet reading) is reported as ``process_s``. Peak memory is always
the whole process's, from its start to its end; the data are written by a child process,
so that this process's own peak (which the kernel carries into every child it starts) stays
a low floor, printed per size.

Then every moorline result (cold, and warm on window 0) is checked column by column against
Evidently's from the same round: same test, same score (rtol 1e-9, atol 1e-15), same
threshold, same verdict, same dataset verdict. Any mismatch is printed, counted in the
results, and makes the benchmark exit 1: a fast wrong answer is not a result.

Usage::

    .venv/bin/python benchmarks/drift.py                       # 100k x 20, 3 rounds
    .venv/bin/python benchmarks/drift.py --quick               # 20k x 20 smoke run
    .venv/bin/python benchmarks/drift.py --sizes 1mx20,100kx200  # Evidently 1-2 min a round each
    .venv/bin/python benchmarks/drift.py --only evidently      # one side, no ratios

It prints one line per process, Evidently's per-column verdicts, then per size a table of
median [min..max] per side and of the per-round ratio moorline / Evidently with the target it
must meet, and writes everything to ``benchmarks/results/drift-<timestamp>.json``.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _drift_data import DEFAULT_SEED, DatasetFiles, drift_intended
from _harness import (
    Row,
    Target,
    ensure_venv,
    format_number,
    git_revision,
    interleave,
    ratio_table,
)
from _harness import stop_process_tree as _stop_process_tree
from tracking import sigterm_unwinds

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
EVIDENTLY_VERSION = "0.7.23"
EVIDENTLY_ENV = HERE / ".envs" / "evidently"
EVIDENTLY_SCRIPT = HERE / "_drift_evidently.py"
MOORLINE_SCRIPT = HERE / "_drift_moorline.py"
DATA_SCRIPT = HERE / "_drift_data.py"
LOCK = REPO / "requirements" / "dev.lock"
CONTESTANTS = ("evidently", "moorline_cold", "moorline_cli", "moorline_warm")
SIDES = ("evidently", "moorline")

# Scores must agree to this (spec section 6); verdicts, tests and thresholds exactly.
SCORE_RTOL = 1e-9
SCORE_ATOL = 1e-15

COLD = Target(op="<=", bound=1 / 15, label="<= 0.067 (>= 15x faster)")
WARM = Target(op="<=", bound=1 / 50, label="<= 0.020 (>= 50x faster)")
MEMORY = Target(op="<=", bound=1 / 3, label="<= 0.33")

NAMED_SIZES = {"quick": (20_000, 20), "100kx20": (100_000, 20)}
DEFAULT_SIZES = ("100kx20",)


class BenchmarkError(RuntimeError):
    """A worker failed, or its output is not what the benchmark needs."""


def parse_size(text: str) -> tuple[int, int]:
    """``"100kx20"`` -> (100000, 20); ``k`` and ``m`` multiply the row count.

    >>> parse_size("1mx20"), parse_size("100kx200"), parse_size("20000x20")
    ((1000000, 20), (100000, 200), (20000, 20))
    """
    if text in NAMED_SIZES:
        return NAMED_SIZES[text]
    match = re.fullmatch(r"(\d+)([km]?)x(\d+)", text.strip().lower())
    if match is None:
        raise ValueError(f"size {text!r} is not ROWSxCOLUMNS (like 100kx20, 1mx20, 100kx200)")
    rows = int(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
    return rows, int(match.group(3))


def size_label(rows: int, columns: int) -> str:
    """(100000, 20) -> ``"100kx20"``.

    >>> size_label(1_000_000, 20), size_label(20_000, 20), size_label(1234, 20)
    ('1mx20', '20kx20', '1234x20')
    """
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}mx{columns}"
    if rows % 1_000 == 0:
        return f"{rows // 1_000}kx{columns}"
    return f"{rows}x{columns}"


# --------------------------------------------------------------------------------------
# Measured processes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """What the kernel says about one finished worker process, and what it wrote."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: dict[str, Any]


def run_measured(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    log: Path,
    out: Path,
    exit_codes: Sequence[int] = (0,),
) -> Measured:
    """Run one worker to completion; return its wall time, CPU time, peak RSS and output.

    The worker runs in its own session (Ctrl-C reaches the benchmark, which then stops it by
    pid). ``wait4`` reaps it and returns its resource usage: ``ru_maxrss`` is the kernel's
    high-water mark of its resident memory (KiB), ``ru_utime + ru_stime`` its CPU time.
    Any exit code outside ``exit_codes`` is a failure (``moorline drift`` exits 1 on drift).
    """
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        _stop_process_tree(process.pid, grace=2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, 0)
        raise
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in exit_codes:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchmarkError(
            f"{Path(argv[1]).name} exited with code {process.returncode}; log {log}:\n{tail}"
        )
    try:
        output: dict[str, Any] = json.loads(out.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as error:
        raise BenchmarkError(f"{Path(argv[1]).name} wrote no valid {out}: {error}") from None
    # A worker that restarted the kernel's peak before its timed run (start_memory_window)
    # reports the peak it had reached before; the process's peak is the larger one.
    load_peak_mb = float(output.get("memory", {}).get("load_peak_mb", 0.0))
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=max(usage.ru_maxrss / 1024, load_peak_mb),
        output=output,
    )


def worker_env(*, quiet_warnings: bool) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    if quiet_warnings:
        # Evidently's run prints dozens of NumPy RuntimeWarnings on columns with inf.
        env["PYTHONWARNINGS"] = "ignore"
    return env


def evidently_requirements() -> list[str]:
    """Evidently's pins, plus the NumPy and SciPy moorline pins, so scores are comparable:
    SciPy changes can move p-values (spec section 6)."""
    requirements = [f"evidently=={EVIDENTLY_VERSION}", "pandas<3", "pyarrow"]
    pins = {}
    if LOCK.exists():
        for line in LOCK.read_text().splitlines():
            name, _, version = line.strip().partition("==")
            if name.lower() in ("numpy", "scipy") and version:
                pins[name.lower()] = f"{name.lower()}=={version.split(';')[0].strip()}"
    return requirements + [pins[name] for name in ("numpy", "scipy") if name in pins]


# --------------------------------------------------------------------------------------
# Verdict check
# --------------------------------------------------------------------------------------


def same_score(a: float | None, b: float | None) -> bool:
    """Scores agree to rtol 1e-9 / atol 1e-15; NaN agrees with NaN (never drift, both).

    >>> same_score(0.1, 0.1 * (1 + 5e-10)), same_score(0.1, 0.1 * (1 + 5e-9))
    (True, False)
    >>> same_score(float("nan"), float("nan")), same_score(0.0, 1e-16), same_score(None, 0.0)
    (True, True, False)
    """
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=SCORE_RTOL, abs_tol=SCORE_ATOL)


def compare(anchor: dict[str, Any], ours: dict[str, Any], *, label: str) -> list[str]:
    """Every difference between Evidently's result and moorline's, one message each.

    Compared per column: presence, type, test, score, threshold, verdict; per dataset: the
    number of columns tested and of drifted columns, and the dataset verdict.
    """
    problems: list[str] = []
    theirs = {c["column"]: c for c in anchor["columns"]}
    mine = {c["column"]: c for c in ours["columns"]}
    for name in theirs.keys() - mine.keys():
        problems.append(f"{label}: column {name!r} tested by evidently, missing from moorline")
    for name in mine.keys() - theirs.keys():
        problems.append(f"{label}: column {name!r} tested by moorline, not by evidently")
    for name in [c["column"] for c in anchor["columns"] if c["column"] in mine]:
        a, b = theirs[name], mine[name]
        for key in ("type", "stattest", "threshold", "drift_detected"):
            if a[key] != b[key]:
                problems.append(f"{label}: {name}: {key} evidently={a[key]!r} moorline={b[key]!r}")
        if not same_score(a["score"], b["score"]):
            relative = (
                abs(a["score"] - b["score"]) / abs(a["score"])
                if a["score"] and b["score"] is not None
                else math.inf
            )
            problems.append(
                f"{label}: {name}: score evidently={a['score']!r} moorline={b['score']!r} "
                f"(relative difference {relative:.2e}, {a['stattest']})"
            )
    for key in ("number_of_columns", "number_of_drifted_columns", "dataset_drift"):
        if anchor["dataset"][key] != ours["dataset"][key]:
            problems.append(
                f"{label}: dataset {key} evidently={anchor['dataset'][key]!r} "
                f"moorline={ours['dataset'][key]!r}"
            )
    return problems


# --------------------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------------------


@dataclass
class SizeRun:
    """Everything measured on one size: figures per contestant, outputs, mismatches."""

    rows: int
    columns: int
    files: DatasetFiles
    # figure name -> side ("evidently" / "moorline") -> one value per round
    figures: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    comparisons: int = 0

    @property
    def label(self) -> str:
        return size_label(self.rows, self.columns)

    def record(self, figure: str, side: str, value: float) -> None:
        self.figures.setdefault(figure, {}).setdefault(side, []).append(value)


def record_memory(run: SizeRun, side: str, memory: dict[str, float]) -> None:
    """Resident memory before the timed run (interpreter, imports, both frames) and what the
    run added on top of it, from the worker's own readings."""
    run.record("rss_before_run_mb", side, memory["rss_before_run_mb"])
    if "run_peak_mb" in memory and "reset" not in memory:
        run.record("run_added_mb", side, memory["run_peak_mb"] - memory["rss_before_run_mb"])


def run_evidently(
    run: SizeRun, python: Path, workdir: Path, round_index: int, *, with_reading: bool
) -> None:
    """One Evidently report. ``with_reading``: its ``run_s`` (the anchor of every speed
    ratio) also counts reading the two files, as moorline's does when it reads them lazily
    inside its own timed call (``--input file``)."""
    out = workdir / "evidently.json"
    measured = run_measured(
        [
            str(python),
            str(EVIDENTLY_SCRIPT),
            str(run.files.reference),
            str(run.files.windows[0]),
            str(out),
        ],
        env=worker_env(quiet_warnings=True),
        log=workdir / "evidently.log",
        out=out,
    )
    timings = measured.output["timings"]
    reading, reading_cpu = (
        (timings["load_s"], timings["load_cpu_s"]) if with_reading else (0.0, 0.0)
    )
    run.record("run_s", "evidently", reading + timings["run_s"])
    run.record("run_cpu_s", "evidently", reading_cpu + timings["run_cpu_s"])
    run.record("export_s", "evidently", timings["export_s"])
    run.record("peak_rss_mb", "evidently", measured.peak_rss_mb)
    record_memory(run, "evidently", measured.output["memory"])
    run.record("process_s", "evidently", measured.wall_s)
    run.record("process_cpu_s", "evidently", measured.cpu_s)
    run.outputs.setdefault("evidently", []).append(measured.output)
    print(
        f"[{run.label} round {round_index + 1}] evidently      "
        f"run {format_number(timings['run_s'])} s (CPU {format_number(timings['run_cpu_s'])} s)"
        f" | reading {format_number(timings['load_s'])} s"
        f" | dict export {format_number(timings['export_s'] * 1000)} ms"
        f" | peak {format_number(measured.peak_rss_mb)} MB"
        f" | process {format_number(measured.wall_s)} s",
        flush=True,
    )


def run_moorline_cold(
    run: SizeRun, python: Path, workdir: Path, round_index: int, input_format: str
) -> None:
    out = workdir / "moorline-cold.json"
    measured = run_measured(
        [
            str(python),
            str(MOORLINE_SCRIPT),
            "cold",
            "--input",
            input_format,
            "--out",
            str(out),
            str(run.files.reference),
            str(run.files.windows[0]),
        ],
        env=worker_env(quiet_warnings=False),
        log=workdir / "moorline-cold.log",
        out=out,
    )
    timings = measured.output["timings"]
    run.record("run_s", "moorline", timings["run_s"])
    run.record("run_cpu_s", "moorline", timings["run_cpu_s"])
    if "export_s" in timings:
        run.record("export_s", "moorline", timings["export_s"])
    run.record("peak_rss_mb", "moorline", measured.peak_rss_mb)
    record_memory(run, "moorline", measured.output["memory"])
    run.record("process_s", "moorline", measured.wall_s)
    run.record("process_cpu_s", "moorline", measured.cpu_s)
    run.outputs.setdefault("moorline_cold", []).append(measured.output)
    print(
        f"[{run.label} round {round_index + 1}] moorline cold  "
        f"run {format_number(timings['run_s'])} s (CPU {format_number(timings['run_cpu_s'])} s)"
        f" | peak {format_number(measured.peak_rss_mb)} MB"
        f" | process {format_number(measured.wall_s)} s",
        flush=True,
    )


def cli_result(document: dict[str, Any]) -> dict[str, Any]:
    """``moorline drift --json`` output (``moorline.drift-report/1``) in the workers' shape.

    >>> cli_result({"columns": [{"column": "x", "type": "num", "stattest": "ks",
    ...   "stattest_display_name": "K-S p_value", "score": None, "threshold": 0.05,
    ...   "drift_detected": False}], "dataset": {"dataset_drift": False}})["columns"][0]["score"]
    nan
    """
    columns = [
        {
            "column": column["column"],
            "type": column["type"],
            "stattest": column["stattest"],
            "method": column["stattest_display_name"],
            "score": float("nan") if column["score"] is None else float(column["score"]),
            "threshold": column["threshold"],
            "drift_detected": column["drift_detected"],
            **({"error": column["error"]} if "error" in column else {}),
        }
        for column in document["columns"]
    ]
    return {"columns": columns, "dataset": document["dataset"]}


def run_moorline_cli(run: SizeRun, python: Path, workdir: Path, round_index: int) -> None:
    """``moorline drift`` as a user runs it; exit code 0 or 1 (the verdict) both succeed."""
    out = workdir / "moorline-cli.json"
    measured = run_measured(
        [
            str(python.parent / "moorline"),
            "drift",
            str(run.files.reference),
            str(run.files.windows[0]),
            "--preset",
            "evidently",
            "--json",
            str(out),
        ],
        env=worker_env(quiet_warnings=False),
        log=workdir / "moorline-cli.log",
        out=out,
        exit_codes=(0, 1),
    )
    run.record("peak_rss_cli_mb", "moorline", measured.peak_rss_mb)
    run.record("cli_process_s", "moorline", measured.wall_s)
    run.record("cli_process_cpu_s", "moorline", measured.cpu_s)
    evidently = run.figures.get("peak_rss_mb", {}).get("evidently", [])
    if len(evidently) > round_index:  # the anchor: Evidently's whole process, same round
        run.record("peak_rss_cli_mb", "evidently", evidently[round_index])
        for figure, anchor in (
            ("cli_process_s", "process_s"),
            ("cli_process_cpu_s", "process_cpu_s"),
        ):
            run.record(figure, "evidently", run.figures[anchor]["evidently"][round_index])
    run.outputs.setdefault("moorline_cli", []).append(cli_result(measured.output))
    print(
        f"[{run.label} round {round_index + 1}] moorline CLI   "
        f"process {format_number(measured.wall_s)} s (CPU {format_number(measured.cpu_s)} s)"
        f" | peak {format_number(measured.peak_rss_mb)} MB",
        flush=True,
    )


def run_moorline_warm(
    run: SizeRun, python: Path, workdir: Path, round_index: int, input_format: str
) -> None:
    """Two processes: build and store the profile (once, as logging the dataset does), then
    a monitor that loads it and checks every window."""
    stored = workdir / "reference.profile"
    out = workdir / "moorline-profile.json"
    built = run_measured(
        [
            str(python),
            str(MOORLINE_SCRIPT),
            "profile",
            "--input",
            input_format,
            "--out",
            str(out),
            "--profile",
            str(stored),
            str(run.files.reference),
        ],
        env=worker_env(quiet_warnings=False),
        log=workdir / "moorline-profile.log",
        out=out,
    )
    out = workdir / "moorline-warm.json"
    measured = run_measured(
        [
            str(python),
            str(MOORLINE_SCRIPT),
            "warm",
            "--input",
            input_format,
            "--out",
            str(out),
            "--profile",
            str(stored),
            *map(str, run.files.windows),
        ],
        env=worker_env(quiet_warnings=False),
        log=workdir / "moorline-warm.log",
        out=out,
    )
    timings = measured.output["timings"]
    # The median window of the round: the first can pay one-off costs (caches, page faults).
    windows = sorted(timings["window_s"])
    windows_cpu = sorted(timings["window_cpu_s"])
    window_s = windows[len(windows) // 2]
    window_cpu_s = windows_cpu[len(windows_cpu) // 2]
    run.record("warm_window_s", "moorline", window_s)
    run.record("warm_window_cpu_s", "moorline", window_cpu_s)
    run.record("peak_rss_warm_mb", "moorline", measured.peak_rss_mb)
    run.record("profile_build_s", "moorline", built.output["timings"]["profile_s"])
    run.record("peak_rss_profile_mb", "moorline", built.peak_rss_mb)
    run.record("profile_mb", "moorline", built.output["profile_bytes"] / 2**20)
    # The anchor of the warm rows is the same Evidently run as the cold rows' (its reading
    # included when moorline reads inside its timed call): Evidently has no stored
    # reference, so every window pays the full report.
    evidently = run.figures.get("run_s", {}).get("evidently", [])
    if len(evidently) > round_index:
        for figure, anchor_figure in (
            ("warm_window_s", "run_s"),
            ("warm_window_cpu_s", "run_cpu_s"),
            ("peak_rss_warm_mb", "peak_rss_mb"),
        ):
            run.record(figure, "evidently", run.figures[anchor_figure]["evidently"][round_index])
    run.outputs.setdefault("moorline_profile", []).append(built.output)
    run.outputs.setdefault("moorline_warm", []).append(measured.output)
    stored.unlink()
    print(
        f"[{run.label} round {round_index + 1}] moorline warm  "
        f"profile {format_number(built.output['timings']['profile_s'])} s, "
        f"{format_number(built.output['profile_bytes'] / 2**20)} MB stored"
        f" | per window {format_number(window_s * 1000)} ms median of {len(windows)}"
        f" [{format_number(windows[0] * 1000)}..{format_number(windows[-1] * 1000)}]"
        f" (CPU {format_number(window_cpu_s * 1000)} ms)"
        f" | peak {format_number(measured.peak_rss_mb)} MB"
        f" | process {format_number(measured.wall_s)} s",
        flush=True,
    )


def check_verdicts(run: SizeRun) -> None:
    """Compare every moorline result with Evidently's from the same round; also check that
    Evidently agrees with itself across rounds (it is deterministic on these tests)."""
    anchors = run.outputs.get("evidently", [])
    for index, anchor in enumerate(anchors[1:], start=2):
        for problem in compare(anchors[0], anchor, label=f"evidently round {index} vs round 1"):
            run.mismatches.append(problem.replace("moorline=", "this round="))
    for contestant in ("moorline_cold", "moorline_cli", "moorline_warm"):
        for index, ours in enumerate(run.outputs.get(contestant, [])):
            if index >= len(anchors):
                break
            run.comparisons += 1
            label = f"{run.label} round {index + 1} {contestant.replace('_', ' ')}"
            run.mismatches.extend(compare(anchors[index], ours, label=label))


def write_files(
    directory: Path, rows: int, columns: int, *, seed: int, windows: int
) -> DatasetFiles:
    """The reference and current windows, written by a child process (``_drift_data.py``).

    Not in this process: the kernel carries a process's high-water mark of resident memory
    into every child it starts (``ru_maxrss`` survives ``exec``), so frames held here once
    would be counted in each worker's peak. This process imports NumPy and PyArrow (some
    70 MB, below any worker's peak) and never holds data.
    """
    done = subprocess.run(
        [
            sys.executable,
            str(DATA_SCRIPT),
            str(directory),
            str(rows),
            str(columns),
            str(seed),
            str(windows),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    paths = json.loads(done.stdout)
    return DatasetFiles(
        rows=rows,
        columns=columns,
        seed=seed,
        reference=Path(paths["reference"]),
        windows=tuple(Path(path) for path in paths["windows"]),
    )


def own_peak_mb() -> float:
    """This process's high-water mark of resident memory (the floor under every worker's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_size(
    rows: int, columns: int, args: argparse.Namespace, names: Sequence[str], workdir: Path
) -> SizeRun:
    label = size_label(rows, columns)
    windows = args.windows if "moorline_warm" in names else 1
    started = time.perf_counter()
    files = write_files(workdir / "data", rows, columns, seed=args.seed, windows=windows)
    print(
        f"[{label}] wrote reference + {windows} current window(s) in "
        f"{time.perf_counter() - started:.1f} s ({files.reference.stat().st_size / 2**20:.0f} MB "
        "Parquet each)",
        flush=True,
    )
    print(
        f"[{label}] this process's peak so far (a floor under workers' peaks): "
        f"{format_number(own_peak_mb())} MB",
        flush=True,
    )
    run = SizeRun(rows=rows, columns=columns, files=files)
    size_dir = workdir / label
    size_dir.mkdir()
    for round_index, name in interleave(names, args.rounds):
        if name == "evidently":
            with_reading = args.input == "file"
            run_evidently(
                run, args.evidently_python, size_dir, round_index, with_reading=with_reading
            )
        elif name == "moorline_cold":
            run_moorline_cold(run, args.moorline_python, size_dir, round_index, args.input)
        elif name == "moorline_cli":
            run_moorline_cli(run, args.moorline_python, size_dir, round_index)
        else:
            run_moorline_warm(run, args.moorline_python, size_dir, round_index, args.input)
    check_verdicts(run)
    for path in (files.reference, *files.windows):
        path.unlink()
    return run


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

# figure, unit, target; the order of the table
FIGURES: tuple[tuple[str, str, Target | None], ...] = (
    ("run_s", "s (cold)", COLD),
    ("warm_window_s", "s/window", WARM),
    ("run_cpu_s", "s CPU (cold)", COLD),
    ("warm_window_cpu_s", "s CPU/window", WARM),
    ("peak_rss_mb", "MB (cold)", MEMORY),
    ("peak_rss_cli_mb", "MB (CLI)", MEMORY),
    ("peak_rss_warm_mb", "MB (warm)", MEMORY),
    ("peak_rss_profile_mb", "MB (profile)", None),
    ("profile_mb", "MB stored", None),
    ("rss_before_run_mb", "MB (cold)", None),
    ("run_added_mb", "MB (cold)", None),
    ("export_s", "s", None),
    ("profile_build_s", "s", None),
    ("process_s", "s (cold)", None),
    ("process_cpu_s", "s CPU (cold)", None),
    ("cli_process_s", "s (CLI)", None),
    ("cli_process_cpu_s", "s CPU (CLI)", None),
)


def table_rows(run: SizeRun) -> list[Row]:
    out = []
    for figure, unit, target in FIGURES:
        values = run.figures.get(figure, {})
        if not values:
            continue
        out.append(
            Row(
                name=figure,
                unit=unit,
                anchor=values.get("evidently", []),
                moorline=values.get("moorline", []),
                target=target,
            )
        )
    return out


def print_verdicts(run: SizeRun) -> None:
    """Evidently's per-column result (round 1), with moorline's verdict beside it."""
    anchors = run.outputs.get("evidently")
    if not anchors:
        return
    cold = {
        c["column"]: c
        for c in (run.outputs.get("moorline_cold") or [{"columns": []}])[0]["columns"]
    }
    intended = set(drift_intended(run.columns))
    print(f"\n[{run.label}] per column, Evidently {EVIDENTLY_VERSION} (round 1):")
    header = ("column", "type", "test", "score", "threshold", "drift", "moorline", "drawn drifted")
    lines = [header]
    for column in anchors[0]["columns"]:
        ours = cold.get(column["column"])
        lines.append(
            (
                column["column"],
                column["type"],
                column["stattest"],
                f"{column['score']:.6g}",
                f"{column['threshold']:g}",
                "DRIFT" if column["drift_detected"] else "-",
                "" if ours is None else ("DRIFT" if ours["drift_detected"] else "-"),
                "yes" if column["column"] in intended else "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    if run.columns > 40:
        lines = [*lines[:21], ("...",) + ("",) * (len(header) - 1)]
    for line in lines:
        print(
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        )
    dataset = anchors[0]["dataset"]
    print(
        f"  dataset: {dataset['number_of_drifted_columns']} of {dataset['number_of_columns']} "
        f"columns drifted (share {dataset['share']:.3f}, drift_share {dataset['drift_share']}) "
        f"-> dataset drift {dataset['dataset_drift']}"
    )


def print_size(run: SizeRun, args: argparse.Namespace) -> None:
    print_verdicts(run)
    print(
        f"\n[{run.label}] {args.rounds} round(s); median [min..max] over rounds; "
        "ratio = moorline / evidently per round (warm: median of the windows of a round)"
    )
    rows = table_rows(run)
    print(ratio_table(rows, anchor="evidently"))
    speedups = []
    for row in rows:
        wanted = ("run_s", "warm_window_s", "peak_rss_mb", "peak_rss_cli_mb", "peak_rss_warm_mb")
        if row.name in wanted and row.anchor and row.moorline:
            ratios = sorted(row.ratios())
            median = ratios[len(ratios) // 2]
            speedups.append(
                f"{row.name}: {format_number(1 / median)}x" if median else f"{row.name}: inf"
            )
    if speedups:
        print("  evidently / moorline (median): " + ", ".join(speedups))
    if run.comparisons:
        if run.mismatches:
            print(
                f"  VERDICTS DIFFER: {len(run.mismatches)} mismatch(es) over "
                f"{run.comparisons} comparison(s):"
            )
            for problem in run.mismatches[:50]:
                print(f"    {problem}")
            if len(run.mismatches) > 50:
                print(f"    ... {len(run.mismatches) - 50} more in the JSON results")
        else:
            n = len(run.outputs["evidently"][0]["columns"])
            print(
                f"  verdicts: identical ({n} columns x {run.comparisons} comparisons: test, "
                f"score to rtol {SCORE_RTOL:g}, threshold, verdict, dataset drift)"
            )
    elif run.mismatches:
        print(f"  EVIDENTLY DIFFERS FROM ITSELF across rounds: {run.mismatches[:5]}")


def write_results(runs: Sequence[SizeRun], args: argparse.Namespace, names: Sequence[str]) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"drift-{stamp}.json"
    versions: dict[str, Any] = {"moorline_git": git_revision()}
    for run in runs:
        for contestant, outputs in run.outputs.items():
            if outputs:
                versions[contestant.split("_")[0]] = outputs[0].get("versions", {})
    document = {
        "benchmark": "drift",
        "created": stamp,
        "rounds": args.rounds,
        "windows": args.windows,
        "seed": args.seed,
        "moorline_input": args.input,
        "benchmark_process_peak_mb": own_peak_mb(),
        "contestants": list(names),
        "anchor": "evidently",
        "ratio": "moorline / anchor, per round",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": versions,
        "evidently_requirements": evidently_requirements(),
        "sizes": [
            {
                "rows": run.rows,
                "columns": run.columns,
                "label": run.label,
                "drift_intended": drift_intended(run.columns),
                "figures": [row.as_dict() for row in table_rows(run)],
                "comparisons": run.comparisons,
                "mismatch_count": len(run.mismatches),
                "mismatches": run.mismatches[:500],
                "evidently_result": (run.outputs.get("evidently") or [{}])[0],
                "moorline_cold_result": (run.outputs.get("moorline_cold") or [{}])[0],
                "moorline_cli_result": (run.outputs.get("moorline_cli") or [{}])[0],
                "moorline_profile": run.outputs.get("moorline_profile", []),
                "moorline_warm_timings": [
                    out.get("timings") for out in run.outputs.get("moorline_warm", [])
                ],
            }
            for run in runs
        ],
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="20k x 20 only: a smoke run")
    parser.add_argument(
        "--sizes",
        default=",".join(DEFAULT_SIZES),
        help="comma-separated ROWSxCOLUMNS, columns a multiple of 20 (default 100kx20; "
        "1mx20 and 100kx200 take Evidently 1-2 min per round each here)",
    )
    parser.add_argument(
        "--windows", type=int, default=5, help="current windows timed warm (default 5)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data seed")
    parser.add_argument(
        "--only", choices=("evidently", "moorline"), help="run one side only (no ratios)"
    )
    parser.add_argument(
        "--input",
        choices=("file", "pandas", "arrow"),
        default="file",
        help="what moorline's library is given: the Parquet files, read one column at a time "
        "(default), pandas DataFrames (as Evidently) or pyarrow Tables read beforehand",
    )
    parser.add_argument(
        "--moorline-python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="interpreter with moorline installed (default: the repo's .venv)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.windows < 1:
        parser.error(f"--windows must be at least 1, got {args.windows}")
    try:
        args.size_list = (
            [parse_size("quick")]
            if args.quick
            else [parse_size(text) for text in args.sizes.split(",") if text.strip()]
        )
    except ValueError as error:
        parser.error(str(error))
    for _, columns in args.size_list:
        if columns < 20 or columns % 20:
            parser.error(f"columns must be a multiple of 20, got {columns}")
    if args.only != "evidently" and not args.moorline_python.exists():
        parser.error(
            f"{args.moorline_python} does not exist: run `make` first, pass --moorline-python, "
            "or use --only evidently"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [name for name in CONTESTANTS if args.only is None or name.startswith(args.only)]
    if "evidently" in names:
        args.evidently_python = ensure_venv(EVIDENTLY_ENV, evidently_requirements())
    workdir = Path(tempfile.mkdtemp(prefix="moorline-bench-drift-"))
    print(f"[bench] working directory {workdir}", flush=True)
    keep = args.keep
    runs: list[SizeRun] = []
    try:
        with sigterm_unwinds():
            for rows, columns in args.size_list:
                runs.append(measure_size(rows, columns, args, names, workdir))
                print_size(runs[-1], args)
        path = write_results(runs, args, names)
        print(f"\nresults written to {path}")
    except Exception:
        keep = True  # the workers' logs explain the failure
        raise
    finally:
        if keep:
            print(f"[bench] kept {workdir} (data and logs)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    mismatches = sum(len(run.mismatches) for run in runs)
    if mismatches:
        print(f"[bench] {mismatches} verdict mismatch(es): see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("[bench] interrupted; every worker it started was stopped", file=sys.stderr)
        sys.exit(130)
    except BenchmarkError as error:
        print(f"[bench] error: {error}", file=sys.stderr)
        sys.exit(1)
