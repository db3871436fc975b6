"""pandas without PyArrow, for processes that only serve models that do not need it.

pandas imports PyArrow when it is installed (for its Arrow-backed string and
extension dtypes), and scikit-learn imports pandas when *it* is imported: a
model server worker that loads a scikit-learn model maps PyArrow's libraries
(``libarrow`` and friends) without ever using them. That is 60 MiB of resident
memory per worker, most of it shared-library pages.

A model server worker calls :func:`prefer_lean_pandas` before loading models.
From then on, the first model to load whose files can only hold its library's
own types (a flavor of :data:`LEAN_FLAVORS` whose loading executes no code the
files carry: skops with scikit-learn, NumPy and SciPy types only, XGBoost's
and LightGBM's native formats) imports pandas with PyArrow hidden from that
import: pandas then works exactly as it does where PyArrow is not installed
(string columns are held as Python objects instead of Arrow buffers, which
scikit-learn, XGBoost and LightGBM convert to NumPy either way). PyArrow stays
importable: a Parquet request body imports it when it arrives, and
``pandas.read_parquet`` works. PyArrow is hidden from the importing thread
only (a finder that refuses it to that thread), so a Parquet request read on
another thread meanwhile is not refused.

Any other model (a pickle, which may hold pandas objects backed by Arrow; skops
with types of other libraries; ``python_function``, which is your code) loads
with pandas imported normally when it is the first. Loaded after pandas was
imported without PyArrow, it loads, but whatever in it asks pandas for
Arrow-backed data (an Arrow-backed string index unpickled, ``dtype="string[pyarrow]"``)
fails until the server restarts; a warning in the log says so when it loads.
"""

from __future__ import annotations

import importlib
import importlib.abc
import logging
import sys
import threading
from typing import Any, Final

log = logging.getLogger("moorline.models")

#: Flavors whose own formats hold only their library's types.
LEAN_FLAVORS: Final = frozenset({"sklearn", "xgboost", "lightgbm"})

_STATE = {"preferred": False, "lean": False, "warned": False}
_LOCK = threading.Lock()


def prefer_lean_pandas() -> None:
    """From now on, import pandas without PyArrow for models that allow it (see above)."""
    _STATE["preferred"] = True


def pandas_is_lean() -> bool:
    """True when this process imported pandas with PyArrow hidden."""
    return _STATE["lean"]


def before_loading(flavor: str, *, executes_code: bool, where: str) -> None:
    """Called before a model is loaded: imports pandas without PyArrow if this
    process prefers it, the model allows it (a flavor of :data:`LEAN_FLAVORS`
    whose files execute no code they carry) and pandas is not imported yet;
    warns once when a model that may need PyArrow comes after that."""
    if flavor in LEAN_FLAVORS and not executes_code:
        if _STATE["preferred"] and "pandas" not in sys.modules:
            with _LOCK:
                if "pandas" not in sys.modules:
                    _import_pandas_without_pyarrow()
        return
    if _STATE["lean"] and not _STATE["warned"]:
        _STATE["warned"] = True
        log.warning(
            "Model at %s (%s%s) loads in a process that imported pandas without "
            "PyArrow for the models loaded before it: anything in it that asks pandas "
            "for Arrow-backed data fails until the server restarts (a server whose "
            "first model is of this kind imports pandas normally)",
            where,
            flavor,
            ", files that execute code" if executes_code else "",
        )


class _RefusePyArrow(importlib.abc.MetaPathFinder):
    """Refuses ``pyarrow`` (and its submodules) to one thread."""

    def __init__(self, thread: int) -> None:
        self.thread = thread

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if threading.get_ident() == self.thread and fullname.split(".", 1)[0] == "pyarrow":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


def _import_pandas_without_pyarrow() -> None:
    """``import pandas`` with PyArrow refused to this thread meanwhile; pandas then
    records that PyArrow is absent. A PyArrow already imported is not hidden (nor
    one another thread imports meanwhile: pandas then finds it and uses it)."""
    if "pyarrow" in sys.modules:
        importlib.import_module("pandas")
        return
    finder = _RefusePyArrow(threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        importlib.import_module("pandas")
    finally:
        sys.meta_path.remove(finder)
    from pandas.compat import HAS_PYARROW  # what pandas decided

    _STATE["lean"] = not HAS_PYARROW
