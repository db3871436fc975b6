"""pandas without PyArrow, for processes that only serve models that do not need it.

pandas imports PyArrow when it is installed (for its Arrow-backed string and
extension dtypes), and scikit-learn imports pandas when *it* is imported: a
model server worker that loads a scikit-learn model maps PyArrow's libraries
(``libarrow`` and friends) without ever using them. That is 60 MiB of resident
memory per worker, most of it shared-library pages.

A model server worker calls :func:`prefer_lean_pandas` before loading models.
From then on, the first model of a flavor in :data:`LEAN_FLAVORS` to load
imports pandas with PyArrow hidden for the length of that import: pandas
then works exactly as it does where PyArrow is not installed (string columns
are held as Python objects instead of Arrow buffers, which scikit-learn, XGBoost
and LightGBM convert to NumPy either way). PyArrow stays importable: a Parquet
request body imports it when it arrives, and ``pandas.read_parquet`` works.

Models of any other flavor (``python_function``: arbitrary user code, which may
ask pandas for Arrow-backed dtypes) load with pandas imported normally when they
are the first; loaded after pandas was imported without PyArrow, they work, and
a warning says that pandas' Arrow-backed dtypes are not available in this
process until it restarts.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Final

log = logging.getLogger("moorline.models")

#: Flavors whose loading and predicting never need pandas' PyArrow support.
LEAN_FLAVORS: Final = frozenset({"sklearn", "xgboost", "lightgbm"})

_STATE = {"preferred": False, "lean": False, "warned": False}


def prefer_lean_pandas() -> None:
    """From now on, import pandas without PyArrow for models of :data:`LEAN_FLAVORS`."""
    _STATE["preferred"] = True


def pandas_is_lean() -> bool:
    """True when this process imported pandas with PyArrow hidden."""
    return _STATE["lean"]


def before_loading(flavor: str, *, where: str) -> None:
    """Called before a model of ``flavor`` is loaded: imports pandas without
    PyArrow if this process prefers it, the flavor allows it and neither is
    imported yet; warns when a flavor that may need PyArrow comes after."""
    if flavor in LEAN_FLAVORS:
        if _STATE["preferred"] and "pandas" not in sys.modules:
            _import_pandas_without_pyarrow()
        return
    if _STATE["lean"] and not _STATE["warned"]:
        _STATE["warned"] = True
        log.warning(
            "Model at %s (%s flavor) loads in a process that imported pandas without "
            "PyArrow for the scikit-learn, XGBoost or LightGBM models loaded before it: "
            "pandas' Arrow-backed dtypes are not available to it until the server "
            "restarts (a server whose first model is of this flavor imports pandas "
            "normally)",
            where,
            flavor,
        )


def _import_pandas_without_pyarrow() -> None:
    """``import pandas`` with ``import pyarrow`` failing meanwhile (a ``None`` in
    ``sys.modules`` makes an import raise ImportError); pandas then records that
    PyArrow is absent. A PyArrow already imported is not hidden."""
    if "pyarrow" in sys.modules:
        importlib.import_module("pandas")
        return
    sys.modules["pyarrow"] = None  # type: ignore[assignment]
    try:
        importlib.import_module("pandas")
    finally:
        if sys.modules.get("pyarrow", 0) is None:
            del sys.modules["pyarrow"]
    _STATE["lean"] = True
