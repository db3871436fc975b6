"""The moorline side of the drift benchmark, cold or warm, in a fresh process.

Runs in the project's virtualenv, started by ``drift.py`` once per round and mode, so the
process's peak memory (read by the parent when it reaps this process) belongs to that mode
alone.

    python _drift_moorline.py cold --out OUT.json REFERENCE.parquet CURRENT.parquet
    python _drift_moorline.py profile --out OUT.json --profile P.bin REFERENCE.parquet
    python _drift_moorline.py warm --out OUT.json --profile P.bin WINDOW0.parquet ...

* ``cold``: ``compute_drift(reference, current, preset="evidently")`` timed as one call, so
  the reference side is profiled inside the timed region, as Evidently's report does it;
  then the JSON form (``DriftReport.to_dict``) timed separately.
* ``profile``: what logging a dataset version does, once: ``ReferenceProfile.from_frame``
  (timed) and ``to_bytes``, written to ``--profile``.
* ``warm``: what a monitor does: load the stored profile (``from_bytes``), then time
  ``compute_drift(profile, window, preset="evidently")`` on each window (with ``--input
  file``, the window file read one column at a time inside the timed call). The raw
  reference is never in this process, so its peak memory is a monitor's. Window 0's result
  is the one checked against Evidently, so the check also covers "a stored profile gives
  the raw reference's results".

In every mode the engine and ``scipy.stats`` (which the run needs, for one K-S test) are
imported before any clock starts (see :func:`preimport`), as Evidently's SciPy is.

``--input file`` (default) hands over the files themselves, as ``pyarrow.parquet.ParquetFile``
objects: the library on files, as a user's script calls it. The engine reads one column at
a time inside the timed call, so the timing includes reading the data (Evidently's does
not: its frames are read before its clock starts). ``--input pandas`` hands over DataFrames
read with ``pandas.read_parquet`` (the input Evidently gets) and ``--input arrow`` PyArrow
Tables, both read before the clock starts. The process runs with Arrow's default allocator,
as a user's program and ``moorline server``'s monitors do; ``moorline drift`` (measured
apart by ``drift.py``) chooses its own. The output holds the
per-column results in the shape ``_drift_evidently.py`` writes, so ``drift.py`` compares
the two directly.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any


def _status_mb(key: str) -> float:
    """A memory line of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} line in /proc/self/status")


def start_memory_window() -> dict[str, float]:
    """Note the peak and the resident memory so far, then restart the kernel's peak.

    Writing 5 to ``/proc/self/clear_refs`` resets the high-water mark (``VmHWM``) to the
    current resident memory, so ``VmHWM`` read after the timed run is the run's own peak,
    and the peak of reading the input (``load_peak_mb``) is not lost: the parent takes the
    larger of the two as the process's peak.
    """
    marks = {"load_peak_mb": _status_mb("VmHWM"), "rss_before_run_mb": _status_mb("VmRSS")}
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        marks["reset"] = 0.0  # the run's peak then includes the loading's
    return marks


def end_memory_window(marks: dict[str, float]) -> dict[str, float]:
    """``marks`` plus the peak since :func:`start_memory_window` (``run_peak_mb``)."""
    return {**marks, "run_peak_mb": _status_mb("VmHWM")}


def versions() -> dict[str, str]:
    names = ("moorline", "pandas", "numpy", "scipy", "pyarrow")
    found = {name: importlib.metadata.version(name) for name in names}
    return {**found, "python": platform.python_version()}


def preimport() -> float:
    """Import what the computation uses before any clock starts; return the seconds it took.

    moorline's engine imports SciPy lazily, only for the tests that need it: of the
    tests the ``evidently`` preset picks here, only the K-S test of the sparse
    reference column (``num_sparse_ref``: under 1,000 reference values) does, for
    ``scipy.special.smirnov`` (its asymptotic p-value; ``scipy.stats`` is not
    imported); Wasserstein and Jensen-Shannon are NumPy. Evidently imports SciPy
    when ``evidently`` is imported, before its clock starts, so ``scipy.special``
    is imported here too: both sides are timed with their libraries loaded, and
    the process's memory is what it would be anyway (the run imports it). The
    import still counts in each process's wall time (``process_s``).
    """
    started = time.perf_counter()
    import scipy.special

    from moorline.monitoring import drift, profile

    assert scipy.special and drift and profile
    return time.perf_counter() - started


def read(path: Path, input_format: str) -> Any:
    """The data as the run gets it: a lazy Parquet file, a DataFrame or a Table."""
    if input_format == "file":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path)
    if input_format == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pandas as pd

    return pd.read_parquet(path)


def extract(report: Any) -> dict[str, Any]:
    """Per-column results and dataset figures, in ``_drift_evidently.py``'s shape."""
    document = report.to_dict()
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


def cold(reference_path: Path, current_path: Path, input_format: str) -> dict[str, Any]:
    from moorline.monitoring.drift import compute_drift

    preimport_s = preimport()
    loaded0 = time.perf_counter()
    reference = read(reference_path, input_format)
    current = read(current_path, input_format)
    load_s = time.perf_counter() - loaded0
    gc.collect()
    memory = start_memory_window()

    wall0, cpu0 = time.perf_counter(), time.process_time()
    report = compute_drift(reference, current, preset="evidently")
    wall1, cpu1 = time.perf_counter(), time.process_time()
    report.to_dict()
    wall2 = time.perf_counter()
    memory = end_memory_window(memory)
    return {
        "timings": {
            "preimport_s": preimport_s,
            "load_s": load_s,
            "run_s": wall1 - wall0,
            "run_cpu_s": cpu1 - cpu0,
            "export_s": wall2 - wall1,
        },
        "memory": memory,
        **extract(report),
    }


def profile(reference_path: Path, profile_path: Path, input_format: str) -> dict[str, Any]:
    """Build the reference profile once and store it: what logging a dataset version does."""
    from moorline.monitoring.profile import ReferenceProfile

    preimport_s = preimport()
    reference = read(reference_path, input_format)
    gc.collect()
    memory = start_memory_window()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    built = ReferenceProfile.from_frame(reference)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    stored = built.to_bytes()
    wall2 = time.perf_counter()
    memory = end_memory_window(memory)
    profile_path.write_bytes(stored)
    return {
        "timings": {
            "preimport_s": preimport_s,
            "profile_s": wall1 - wall0,
            "profile_cpu_s": cpu1 - cpu0,
            "to_bytes_s": wall2 - wall1,
        },
        "memory": memory,
        "profile_bytes": len(stored),
    }


def warm(profile_path: Path, window_paths: list[Path], input_format: str) -> dict[str, Any]:
    """A monitor: load the stored profile, then check each window against it."""
    from moorline.monitoring.drift import compute_drift
    from moorline.monitoring.profile import ReferenceProfile

    preimport_s = preimport()
    wall0 = time.perf_counter()
    profile = ReferenceProfile.from_bytes(profile_path.read_bytes())
    load_s = time.perf_counter() - wall0
    gc.collect()
    memory = start_memory_window()

    window_s: list[float] = []
    window_cpu_s: list[float] = []
    first: dict[str, Any] = {}
    for index, path in enumerate(window_paths):
        window = read(path, input_format)
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        report = compute_drift(profile, window, preset="evidently")
        window_s.append(time.perf_counter() - start)
        window_cpu_s.append(time.process_time() - start_cpu)
        if index == 0:
            first = extract(report)
        del window, report
    memory = end_memory_window(memory)
    return {
        "timings": {
            "preimport_s": preimport_s,
            "profile_load_s": load_s,
            "window_s": window_s,
            "window_cpu_s": window_cpu_s,
        },
        "memory": memory,
        **first,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("cold", "profile", "warm"))
    parser.add_argument("--out", type=Path, required=True, help="where to write the results")
    parser.add_argument("--input", choices=("file", "pandas", "arrow"), default="file")
    parser.add_argument(
        "--profile", type=Path, help="the stored profile: written by profile, read by warm"
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        help="cold: REFERENCE CURRENT; profile: REFERENCE; warm: WINDOW...",
    )
    args = parser.parse_args(argv)
    expected = {"cold": 2, "profile": 1}.get(args.mode)
    if expected is not None and len(args.files) != expected:
        parser.error(f"{args.mode} takes {expected} file(s), got {len(args.files)}")
    if args.mode != "cold" and args.profile is None:
        parser.error(f"{args.mode} needs --profile")
    if args.mode == "cold":
        result = cold(args.files[0], args.files[1], args.input)
    elif args.mode == "profile":
        result = profile(args.files[0], args.profile, args.input)
    else:
        result = warm(args.profile, args.files, args.input)
    document = {"contestant": f"moorline_{args.mode}", "versions": versions(), **result}
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
