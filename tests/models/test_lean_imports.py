"""pandas without PyArrow (:mod:`moorline.models.lean_imports`): when it happens,
what pandas can still do, and the warning for a flavor that may need PyArrow.

Each case runs in a fresh interpreter: this one imported pandas long ago.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROLOGUE = """
import io, json, logging, sys
logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s")
from moorline.models import lean_imports as li
"""


def run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    done = subprocess.run(
        [sys.executable, "-c", PROLOGUE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def test_a_serving_process_imports_pandas_without_pyarrow_for_sklearn_and_can_still_use_it() -> (
    None
):
    out = run(
        """
        li.prefer_lean_pandas()
        li.before_loading("sklearn", executes_code=False, where="m")
        without = "pyarrow" not in sys.modules
        import pandas as pd
        frame = pd.DataFrame({"city": ["oslo", None], "x": [1.0, 2.0]})
        import pyarrow  # importable afterwards: not blocked
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        back = pd.read_parquet(io.BytesIO(buffer.getvalue()))
        print(json.dumps({
            "without": without,
            "lean": li.pandas_is_lean(),
            "storage": frame["city"].dtype.storage,
            "same": back["city"].tolist()[0] == "oslo" and back["x"].tolist() == [1.0, 2.0],
        }))
        """
    )
    assert out["without"] is True
    assert out["lean"] is True
    assert out["storage"] == "python"  # pandas as where PyArrow is absent
    assert out["same"] is True
    assert "LOG WARNING" not in str(out["stderr"])


def test_pandas_is_imported_normally_unless_the_process_asks_or_the_flavor_may_need_arrow() -> None:
    out = run(
        """
        li.before_loading("sklearn", executes_code=False, where="m")  # not asked: nothing happens
        untouched = "pandas" not in sys.modules
        li.prefer_lean_pandas()
        # the first model may need Arrow
        li.before_loading("python_function", executes_code=True, where="m")
        import pandas as pd
        print(json.dumps({
            "untouched": untouched,
            "lean": li.pandas_is_lean(),
            "storage": pd.DataFrame({"c": ["a"]})["c"].dtype.storage,
        }))
        """
    )
    assert out["untouched"] is True
    assert out["lean"] is False
    assert out["storage"] == "pyarrow"
    assert "LOG WARNING" not in str(out["stderr"])


def test_a_python_function_model_after_a_lean_import_is_warned_about_once() -> None:
    out = run(
        """
        li.prefer_lean_pandas()
        li.before_loading("xgboost", executes_code=False, where="first")
        li.before_loading("python_function", executes_code=True, where="runs:/abc/model")
        li.before_loading("python_function", executes_code=True, where="runs:/def/model")
        print(json.dumps({"lean": li.pandas_is_lean()}))
        """
    )
    assert out["lean"] is True
    warnings = [line for line in str(out["stderr"]).splitlines() if line.startswith("LOG WARNING")]
    assert len(warnings) == 1, out["stderr"]
    assert "runs:/abc/model" in warnings[0] and "without PyArrow" in warnings[0]


@pytest.mark.parametrize(
    ("before", "executes_code"),
    [
        # a PyArrow already imported is not hidden
        ("import pyarrow", False),
        # a pickle (MLflow's sklearn format) can hold pandas objects whose strings
        # are Arrow-backed, which fail to unpickle where pandas lacks PyArrow (see
        # below): a model whose loading executes code never gets the lean import
        ("", True),
    ],
)
def test_pandas_keeps_pyarrow_when_it_is_imported_already_or_the_model_executes_code(
    before: str, executes_code: bool
) -> None:
    out = run(
        f"""
        {before}
        li.prefer_lean_pandas()
        li.before_loading("sklearn", executes_code={executes_code}, where="m")
        import pandas as pd
        print(json.dumps({{
            "lean": li.pandas_is_lean(),
            "storage": pd.DataFrame({{"c": ["a"]}})["c"].dtype.storage,
        }}))
        """
    )
    assert out["lean"] is False
    assert out["storage"] == "pyarrow"


def test_an_arrow_backed_pickle_fails_in_a_lean_process_so_pickles_never_make_it_lean(
    tmp_path: Path,
) -> None:
    """Why the rule above: the same pickle loads where pandas has PyArrow and not
    where pandas was imported without it."""
    import pandas as pd

    pickled = tmp_path / "index.pkl"
    pickled.write_bytes(pickle.dumps(pd.Index(["a", "b"])))
    code = """
        import pickle
        li.prefer_lean_pandas()
        li.before_loading("sklearn", executes_code={executes}, where="m")
        try:
            loaded = list(pickle.loads(open({path!r}, "rb").read()))
        except ImportError as exc:
            loaded = "ImportError: " + str(exc)
        print(json.dumps({{"loaded": loaded}}))
        """
    normal = run(code.format(executes=True, path=str(pickled)))
    assert normal["loaded"] == ["a", "b"]
    lean = run(code.format(executes=False, path=str(pickled)))
    assert "pyarrow" in str(lean["loaded"]), lean
