"""The drift benchmark's own machinery: the verdict check and the per-process measurement.

The benchmark exits non-zero when moorline's ``evidently`` preset disagrees with Evidently,
so the comparison must catch every kind of difference and nothing else; and its memory
figure must be the worker's own peak, read from the kernel. Both are checked here with
real processes, without Evidently (which lives in its own virtualenv).
"""

from __future__ import annotations

import copy
import doctest
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "drift.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_drift", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_drift"] = module
    spec.loader.exec_module(module)
    return module


def result() -> dict[str, Any]:
    return {
        "columns": [
            {
                "column": "x",
                "type": "num",
                "stattest": "wasserstein",
                "score": 0.2345678901234,
                "threshold": 0.1,
                "drift_detected": True,
            },
            {
                "column": "plan",
                "type": "cat",
                "stattest": "chisquare",
                "score": float("nan"),
                "threshold": 0.05,
                "drift_detected": False,
            },
        ],
        "dataset": {"number_of_columns": 2, "number_of_drifted_columns": 1, "dataset_drift": True},
    }


def test_doctests(bench: ModuleType) -> None:
    failures, tried = doctest.testmod(bench, verbose=False)
    assert tried >= 4
    assert failures == 0


def test_identical_results_have_no_mismatch(bench: ModuleType) -> None:
    assert bench.compare(result(), result(), label="t") == []


def test_a_score_within_tolerance_passes_and_one_beyond_fails(bench: ModuleType) -> None:
    ours = result()
    ours["columns"][0]["score"] *= 1 + 5e-10
    assert bench.compare(result(), ours, label="t") == []
    ours["columns"][0]["score"] = result()["columns"][0]["score"] * (1 + 5e-9)
    (problem,) = bench.compare(result(), ours, label="t")
    assert "x: score" in problem and "relative difference 5.00e-09" in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [("stattest", "ks"), ("drift_detected", False), ("threshold", 0.05), ("type", "cat")],
)
def test_each_per_column_difference_is_reported(bench: ModuleType, key: str, value: Any) -> None:
    ours = result()
    ours["columns"][0][key] = value
    (problem,) = bench.compare(result(), ours, label="round 1")
    assert problem.startswith(f"round 1: x: {key} evidently=")


def test_missing_extra_and_dataset_differences_are_reported(bench: ModuleType) -> None:
    ours = copy.deepcopy(result())
    ours["columns"][1]["column"] = "other"
    ours["dataset"]["dataset_drift"] = False
    problems = bench.compare(result(), ours, label="t")
    assert len(problems) == 3
    assert any("'plan' tested by evidently, missing from moorline" in p for p in problems)
    assert any("'other' tested by moorline, not by evidently" in p for p in problems)
    assert any("dataset dataset_drift" in p for p in problems)


def test_a_nan_score_only_matches_nan(bench: ModuleType) -> None:
    ours = result()
    ours["columns"][1]["score"] = 0.5
    (problem,) = bench.compare(result(), ours, label="t")
    assert "plan: score" in problem


def test_run_measured_reads_the_workers_own_peak_memory_and_cpu(
    bench: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys, time
            block = bytearray(300 * 2**20)  # touched: resident
            for i in range(0, len(block), 4096):
                block[i] = 1
            deadline = time.process_time() + 0.3
            while time.process_time() < deadline:
                pass
            json.dump({"ok": True}, open(sys.argv[1], "w"))
            """
        )
    )
    measured = bench.run_measured(
        [sys.executable, str(script), str(out)], env={}, log=tmp_path / "log", out=out
    )
    assert measured.output == {"ok": True}
    # Between fork and exec the child is a copy of this (pytest) process, so the
    # kernel's high-water mark can be this process's size when that is larger.
    import resource

    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 300 <= measured.peak_rss_mb < max(400, parent_mb + 50)
    assert measured.cpu_s >= 0.3
    assert measured.wall_s >= measured.cpu_s * 0.5


def test_a_failing_worker_stops_the_benchmark_with_its_log(
    bench: ModuleType, tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text("import sys\nprint('cannot read the reference file')\nsys.exit(3)\n")
    with pytest.raises(bench.BenchmarkError, match=r"code 3(?s:.)*cannot read the reference"):
        bench.run_measured(
            [sys.executable, str(script)], env={}, log=tmp_path / "log", out=tmp_path / "o.json"
        )
    script.write_text("pass\n")
    with pytest.raises(bench.BenchmarkError, match="wrote no valid"):
        bench.run_measured(
            [sys.executable, str(script)], env={}, log=tmp_path / "log", out=tmp_path / "o.json"
        )


def test_the_evidently_venv_pins_moorlines_numpy_and_scipy(bench: ModuleType) -> None:
    requirements = bench.evidently_requirements()
    assert requirements[:3] == ["evidently==0.7.23", "pandas<3", "pyarrow"]
    lock = (SCRIPT.parents[1] / "requirements" / "dev.lock").read_text()
    for pin in requirements[3:]:
        assert pin in lock.splitlines()
    assert {pin.split("==")[0] for pin in requirements[3:]} == {"numpy", "scipy"}


def test_a_result_document_round_trips_through_json(bench: ModuleType) -> None:
    """Workers write NaN scores as JSON NaN; the comparison must still see them as NaN."""
    back = json.loads(json.dumps(result()))
    assert bench.compare(result(), back, label="t") == []


def test_a_worker_may_succeed_with_a_verdict_exit_code(bench: ModuleType, tmp_path: Path) -> None:
    """``moorline drift`` exits 1 when the data drifted: that run succeeded."""
    out = tmp_path / "o.json"
    script = tmp_path / "worker.py"
    script.write_text(
        f"import json, sys\njson.dump({{'ok': 1}}, open({str(out)!r}, 'w'))\nsys.exit(1)\n"
    )
    argv = [sys.executable, str(script)]
    measured = bench.run_measured(argv, env={}, log=tmp_path / "log", out=out, exit_codes=(0, 1))
    assert measured.output == {"ok": 1}
    with pytest.raises(bench.BenchmarkError, match="code 1"):
        bench.run_measured(argv, env={}, log=tmp_path / "log", out=out)


def test_the_cli_report_is_compared_like_the_workers(bench: ModuleType) -> None:
    import numpy as np
    import pandas

    from moorline.monitoring.drift import compute_drift

    rng = np.random.default_rng(3)
    reference = pandas.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    current = pandas.DataFrame({"x": rng.normal(1, size=400), "c": rng.choice(["a", "b"], 400)})
    document = json.loads(compute_drift(reference, current, preset="evidently").to_json())
    ours = bench.cli_result(document)
    assert [c["column"] for c in ours["columns"]] == ["x", "c"]
    assert bench.compare(ours, ours, label="t") == []
    worse = copy.deepcopy(ours)
    worse["columns"][0]["drift_detected"] = not worse["columns"][0]["drift_detected"]
    assert len(bench.compare(ours, worse, label="t")) == 1
