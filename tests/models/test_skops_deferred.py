"""skops imported without its scan of scikit-learn (what a model server worker does,
:func:`moorline.models.flavors.sklearn.defer_estimator_scan`): moorline's loader
loads what it loaded before and refuses what it refused; any other caller of skops
in the process still gets skops' own defaults; the scan is not paid."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import all_estimators

from moorline.errors import IntegrityError
from moorline.models.flavors.sklearn import SklearnFlavor, is_sklearn_estimator, load_skops
from tests.models.conftest import ThresholdModel

#: Runs in a fresh process: defers the scan, loads with moorline's loader, then lets
#: skops load with its defaults, and reports what it saw at each step.
CHILD = """
import json, sys
from pathlib import Path
from moorline.models.flavors.sklearn import defer_estimator_scan, load_skops
defer_estimator_scan()
folder = Path(sys.argv[1])
out = {}
pipe = load_skops(folder / "pipe.skops", [])
forest = load_skops(folder / "forest.skops", ["sklearn.tree._tree.Tree"])
rows = __import__("numpy").load(folder / "rows.npy")
out["pipe"] = pipe.predict(rows).tolist()
out["forest"] = forest.predict(rows).tolist()
out["scanned_after_moorline"] = "sklearn.semi_supervised" in sys.modules
import tempfile
from moorline.models.flavors.sklearn import SklearnFlavor
with tempfile.TemporaryDirectory() as saved:
    out["saved_trusted"] = SklearnFlavor().save(forest, Path(saved)).config["trusted_types"]
out["scanned_after_save"] = "sklearn.semi_supervised" in sys.modules
try:
    load_skops(folder / "foreign.skops", [])
    out["foreign"] = "loaded"
except Exception as exc:
    out["foreign"] = type(exc).__name__
import skops.io
other = skops.io.load(folder / "pipe.skops")  # another caller, skops' defaults
out["other_caller"] = other.predict(rows).tolist()
out["scanned_after_other"] = "sklearn.semi_supervised" in sys.modules
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[int]]]:
    import skops.io

    folder = tmp_path_factory.mktemp("skops-deferred")
    x, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    foreign = ThresholdModel("x", 0.5)  # a user's class: not an estimator, not recorded
    skops.io.dump(pipe, folder / "pipe.skops")
    skops.io.dump(forest, folder / "forest.skops")
    skops.io.dump(foreign, folder / "foreign.skops")
    rows = x[:12]
    np.save(folder / "rows.npy", rows)
    expected = {
        "pipe": [int(v) for v in pipe.predict(rows)],
        "forest": [int(v) for v in forest.predict(rows)],
    }
    return folder, expected


def test_deferred_loads_the_same_models_refuses_the_same_and_leaves_skops_defaults_whole(
    files: tuple[Path, dict[str, list[int]]],
) -> None:
    folder, expected = files
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],  # the repository: tests.models importable
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["pipe"] == expected["pipe"]
    assert seen["forest"] == expected["forest"]
    # moorline's loader never ran the scan (it imports every scikit-learn module)...
    assert seen["scanned_after_moorline"] is False
    # a model saved there records what a process with skops' full list records
    x, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    with tempfile.TemporaryDirectory() as saved:
        recorded = SklearnFlavor().save(forest, Path(saved)).config["trusted_types"]
    assert seen["saved_trusted"] == recorded == ["sklearn.tree._tree.Tree"]
    assert seen["scanned_after_save"] is False
    # ...and still refuses a type that is neither recorded nor an estimator
    assert seen["foreign"] == "IntegrityError"
    # another caller with skops' defaults loads an estimator-only file: the list was
    # computed for it, on first use
    assert seen["other_caller"] == expected["pipe"]
    assert seen["scanned_after_other"] is True


def test_every_estimator_skops_trusts_by_default_is_an_estimator_for_moorline() -> None:
    from skops.io._utils import get_type_name

    names = [get_type_name(cls) for _, cls in all_estimators()]
    names = [n for n in names if n.startswith("sklearn.")]
    assert len(names) > 150
    assert [n for n in names if not is_sklearn_estimator(n)] == []


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.base.BaseEstimator",
        "sklearn.utils._testing.MinimalClassifier",
        "sklearn.utils.estimator_checks._NotAnArray",
        "sklearn.preprocessing._function_transformer.missing",
        "builtins.eval",
        "os.system",
        "sklearn..x",
        "numpy.ndarray",
    ],
)
def test_other_names_are_not_estimators(name: str) -> None:
    assert is_sklearn_estimator(name) is False


def test_the_loader_refuses_an_unrecorded_foreign_type_in_any_mode(
    files: tuple[Path, dict[str, list[int]]],
) -> None:
    folder, _ = files
    with pytest.raises(IntegrityError, match=r"tests\.models\.conftest\.ThresholdModel"):
        load_skops(folder / "foreign.skops", [])


def test_a_saved_model_records_only_what_is_not_an_estimator(tmp_path: Path) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    info = SklearnFlavor().save(forest, tmp_path)
    trusted = info.config["trusted_types"]
    assert all(not is_sklearn_estimator(t) for t in trusted)
    assert isinstance(load_skops(tmp_path / "model.skops", trusted), BaseEstimator)
