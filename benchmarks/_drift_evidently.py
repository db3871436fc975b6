"""The Evidently side of the drift benchmark: one report on one reference and one current file.

Runs inside Evidently's own virtualenv (``benchmarks/.envs/evidently``: evidently 0.7.23,
pandas < 3), started by ``drift.py`` as a fresh process per round, so the process's peak
memory (read by the parent when it reaps this process) is this report's and nothing else's.

    python _drift_evidently.py REFERENCE.parquet CURRENT.parquet OUT.json

Measured inside (wall time with ``perf_counter``, CPU time of the process with
``process_time``):

* ``run``: ``Report([DataDriftPreset()], include_tests=True).run(current_data=...,
  reference_data=...)`` on its own, as ``specs/anchors-setup.md`` prescribes. The tests are
  included because the per-column verdict exists in Evidently's output only as the status of
  each ``ValueDrift`` test; they are built from the drift results already computed, at no
  measurable cost;
* ``export``: ``snapshot.dict()``, the dict form of the result, timed separately;
* ``load``: reading the two Parquet files with ``pandas.read_parquet`` (before the run), wall
  and CPU, so a contestant that reads inside its own run can be compared with reading plus
  run.

Then, outside any timing, the per-column method, score, threshold and verdict are read from
that dict and written to OUT.json with the timings, the resident memory before the run and
the versions of everything involved. The method comes out as Evidently's display name
("K-S p_value"); it is mapped back to the registry name ("ks") through Evidently's own
registry of stat tests, and the column type is Evidently's own inference on the current
frame (the one the report uses).
"""

from __future__ import annotations

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
    names = ("evidently", "pandas", "numpy", "scipy", "pyarrow", "scikit-learn")
    found = {name: importlib.metadata.version(name) for name in names}
    return {**found, "python": platform.python_version()}


def display_to_registry_name() -> dict[str, str]:
    """Evidently's stat-test display names mapped to their registry names."""
    from evidently.legacy.calculations.stattests import registry

    mapping: dict[str, str] = {}
    for name, by_type in registry._registered_stat_tests.items():
        for stattest in by_type.values():
            known = mapping.setdefault(stattest.display_name, name)
            if known != name:
                raise RuntimeError(
                    f"display name {stattest.display_name!r} is shared by {known!r} and {name!r}"
                )
    return mapping


def column_types(current: Any) -> dict[str, str]:
    """Evidently's type inference on the current frame: column -> "num" / "cat" / "text"."""
    from evidently import Dataset

    definition = Dataset.from_pandas(current).data_definition
    types: dict[str, str] = {}
    for kind, names in (
        ("num", definition.get_numerical_columns()),
        ("cat", definition.get_categorical_columns()),
        ("text", definition.get_text_columns()),
    ):
        types.update(dict.fromkeys(names, kind))
    return types


def extract(result: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """Per-column and dataset figures from the snapshot's dict form."""
    names = display_to_registry_name()
    verdicts: dict[str, bool] = {}
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith(":ValueDrift"):
            verdicts[params["column"]] = test["status"] == "FAIL"
    columns: list[dict[str, Any]] = []
    drifted_columns_count: dict[str, Any] = {}
    drift_share = 0.5
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            drifted_columns_count = dict(metric["value"])
            drift_share = float(config["drift_share"])
        elif config["type"].endswith(":ValueDrift"):
            column = config["column"]
            columns.append(
                {
                    "column": column,
                    "type": types.get(column, "unknown"),
                    "stattest": names.get(config["method"], config["method"]),
                    "method": config["method"],
                    "score": float(metric["value"]),
                    "threshold": float(config["threshold"]),
                    "drift_detected": verdicts[column],
                }
            )
    drifted = sum(column["drift_detected"] for column in columns)
    share = drifted / len(columns) if columns else 0.0
    return {
        "columns": columns,
        # Per spec section 1, the dataset verdict follows the ValueDrift results (always
        # cleaned); DriftedColumnsCount takes the legacy path, which skips cleaning for a
        # column with ±inf and no NaN, and is kept beside it for reference.
        "dataset": {
            "number_of_columns": len(columns),
            "number_of_drifted_columns": drifted,
            "share": share,
            "drift_share": drift_share,
            "dataset_drift": share >= drift_share,
        },
        "drifted_columns_count_metric": drifted_columns_count,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    reference_path, current_path, out_path = (Path(arg) for arg in argv)
    started = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    imported, imported_cpu = time.perf_counter(), time.process_time()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    report = Report([DataDriftPreset()], include_tests=True)
    gc.collect()
    memory = start_memory_window()

    wall0, cpu0 = time.perf_counter(), time.process_time()
    snapshot = report.run(current_data=current, reference_data=reference)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    result = snapshot.dict()
    wall2, cpu2 = time.perf_counter(), time.process_time()
    memory = end_memory_window(memory)

    document = {
        "contestant": "evidently",
        "versions": versions(),
        "rows": {"reference": len(reference), "current": len(current)},
        "timings": {
            "import_s": imported - started,
            "load_s": loaded - imported,
            "load_cpu_s": loaded_cpu - imported_cpu,
            "run_s": wall1 - wall0,
            "run_cpu_s": cpu1 - cpu0,
            "export_s": wall2 - wall1,
            "export_cpu_s": cpu2 - cpu1,
        },
        "memory": memory,
        **extract(result, column_types(current)),
    }
    out_path.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
