"""scikit-learn estimators and pipelines, saved with skops (no pickle).

skops refuses to load any type outside its default allow-list unless the
caller names it. At save time the types the file needs beyond that list
are computed (``skops.io.get_untrusted_types``) and stored in the manifest;
at load exactly those are passed, never ``trusted=True``. A file that asks
for any other type is refused. Types from scikit-learn, NumPy and SciPy
are library code; a type from anywhere else (a custom transformer) makes
``executes_code_on_load`` true, since loading runs that class's code.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from moorline.errors import IntegrityError, InvalidArgument
from moorline.models.flavors.base import Flavor, FlavorInfo, NativePredictor, qualified_name

DATA_FILE = "model.skops"
#: Modules whose types are library code, not code the model file brings along.
LIBRARY_MODULES = ("sklearn", "numpy", "scipy")


#: Module path parts ``sklearn.utils.all_estimators`` does not search.
_NOT_SEARCHED = frozenset(
    {"tests", "externals", "setup", "conftest", "experimental", "estimator_checks"}
)
#: ``deferred``: whether this process imports skops without its estimator scan
#: (model server workers).
_SETTINGS = {"deferred": False}
#: Set while this module's loader runs in the thread: the deferred list is empty then.
_LOADER = threading.local()


def _is_library_type(name: str) -> bool:
    return name.split(".", 1)[0] in LIBRARY_MODULES


def defer_estimator_scan() -> None:
    """Import skops, when this process does, with its scan of scikit-learn deferred
    (see the module docstring). For processes that only load models: a model
    server worker calls it before loading any."""
    _SETTINGS["deferred"] = True


def skops_io() -> ModuleType:
    """``skops.io``; its first import deferring the estimator scan if
    :func:`defer_estimator_scan` was called."""
    found = sys.modules.get("skops.io")
    if found is not None:
        return found
    if _SETTINGS["deferred"]:
        return _import_deferred()
    import skops.io

    module: ModuleType = skops.io
    return module


def _import_deferred() -> ModuleType:
    """``skops.io`` imported with ``all_estimators`` answering nothing, its list of
    estimator names then replaced by a :class:`_DeferredEstimatorNames`. A skops
    whose internals are not where this expects them is imported again, normally."""
    import sklearn.utils

    scan = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = _no_estimators
    try:
        importlib.import_module("skops.io")
    finally:
        sklearn.utils.all_estimators = scan
    deferred = _DeferredEstimatorNames()
    modules = [sys.modules.get(f"skops.io.{name}") for name in ("_general", "_trusted_types")]
    if all(
        m is not None and getattr(m, "SKLEARN_ESTIMATOR_TYPE_NAMES", None) == [] for m in modules
    ):
        for module in modules:
            module.SKLEARN_ESTIMATOR_TYPE_NAMES = deferred  # type: ignore[union-attr]
        return sys.modules["skops.io"]
    for name in [m for m in sys.modules if m == "skops" or m.startswith("skops.")]:
        del sys.modules[name]  # pragma: no cover - another skops: the normal import
    return importlib.import_module("skops.io")  # pragma: no cover


def _no_estimators(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
    return []


class _DeferredEstimatorNames(list[str]):
    """skops' ``SKLEARN_ESTIMATOR_TYPE_NAMES``, computed on first use by skops' own
    rule; empty while this module's loader runs (it names the estimators it trusts)."""

    def __init__(self) -> None:
        super().__init__()
        self._filled = False
        self._lock = threading.Lock()

    def _names(self) -> list[str]:
        if getattr(_LOADER, "active", False):
            return []
        if not self._filled:
            with self._lock:
                if not self._filled:
                    from sklearn.utils import all_estimators
                    from skops.io._utils import get_type_name

                    names = (get_type_name(cls) for _, cls in all_estimators())
                    super().extend(n for n in names if n.startswith("sklearn."))
                    self._filled = True
        return list(super().__iter__())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __add__(self, other: list[str]) -> list[str]:  # type: ignore[override]
        return self._names() + list(other)

    def __radd__(self, other: list[str]) -> list[str]:
        return list(other) + self._names()

    def __eq__(self, other: object) -> bool:
        return self._names() == other

    __hash__ = None


def _estimator_names() -> object:
    """skops' list of estimator names as loaded in this process (None before skops)."""
    general = sys.modules.get("skops.io._general")
    return None if general is None else getattr(general, "SKLEARN_ESTIMATOR_TYPE_NAMES", None)


@contextmanager
def _loading() -> Iterator[None]:
    previous = getattr(_LOADER, "active", False)
    _LOADER.active = True
    try:
        yield
    finally:
        _LOADER.active = previous


@functools.cache
def is_sklearn_estimator(name: str) -> bool:
    """Whether ``name`` (``module.Class``, as skops names types) is an estimator
    ``sklearn.utils.all_estimators()`` lists: a public, concrete subclass of
    ``BaseEstimator`` defined in scikit-learn and exposed by the nearest public
    package above its module, outside tests, externals and experimental code.
    Only scikit-learn's own modules are imported to decide.

    >>> is_sklearn_estimator("sklearn.ensemble._forest.RandomForestClassifier")
    True
    >>> is_sklearn_estimator("sklearn.base.BaseEstimator")
    False
    >>> is_sklearn_estimator("builtins.eval"), is_sklearn_estimator("os.system")
    (False, False)
    """
    module_name, _, class_name = name.rpartition(".")
    parts = module_name.split(".")
    if parts[0] != "sklearn" or not class_name or class_name.startswith("_"):
        return False
    if any(part in _NOT_SEARCHED or not part.isidentifier() for part in parts):
        return False
    public = list(parts)
    while public[-1].startswith("_"):
        public.pop()
    try:
        defining = importlib.import_module(module_name)
        exposing = importlib.import_module(".".join(public))
    except ImportError:
        return False
    from sklearn.base import BaseEstimator

    cls = getattr(defining, class_name, None)
    return (
        isinstance(cls, type)
        and issubclass(cls, BaseEstimator)
        and cls is not BaseEstimator
        and cls.__module__ == module_name
        and not inspect.isabstract(cls)
        and getattr(exposing, class_name, None) is cls
    )


def trusted_for(file: Path, recorded: Sequence[str]) -> list[str]:
    """The types to trust loading ``file``: those it needs beyond skops' defaults,
    each ``recorded`` (the manifest's list) or a scikit-learn estimator.

    Raises :class:`~moorline.errors.IntegrityError` naming any other type.
    """
    io = skops_io()
    with _loading():
        needed = io.get_untrusted_types(file=file)
    allowed = set(recorded)
    refused = sorted(t for t in needed if t not in allowed and not is_sklearn_estimator(t))
    if refused:
        raise IntegrityError(
            f"Model file {file.name!r} needs types that were not recorded as trusted when it "
            f"was saved ({', '.join(refused)}); refusing to load it"
        )
    return sorted(needed)


class SklearnFlavor(Flavor):
    """``trusted_types``: the exact non-default types skops may load (from the manifest).

    >>> SklearnFlavor(trusted_types=["sklearn.tree._tree.Tree"]).trusted_types
    ('sklearn.tree._tree.Tree',)
    """

    name: ClassVar[str] = "sklearn"
    formats: ClassVar[tuple[str, ...]] = ("skops",)

    def __init__(self, *, trusted_types: Sequence[str] = ()) -> None:
        if isinstance(trusted_types, str) or not all(isinstance(t, str) for t in trusted_types):
            raise InvalidArgument("trusted_types must be a list of type names")
        self.trusted_types = tuple(trusted_types)

    @classmethod
    def accepts(cls, model: object) -> bool:
        base = sys.modules.get("sklearn.base")
        return base is not None and isinstance(model, base.BaseEstimator)

    def save(self, model: Any, path: Path) -> FlavorInfo:
        import sklearn
        import skops

        io = skops_io()
        target = path / DATA_FILE
        try:
            io.dump(model, target)
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise InvalidArgument(
                f"Cannot save {qualified_name(model)} with skops ({type(exc).__name__}: {exc}); "
                "pass flavor='python_function' to save it with cloudpickle instead "
                "(loading it will then execute code)"
            ) from exc
        with _loading():
            needed = io.get_untrusted_types(file=target)
        if isinstance(_estimator_names(), _DeferredEstimatorNames):
            # skops' list is deferred here, so its estimators came back as untrusted:
            # record what a process with skops' full list would (the MLmodel file
            # tells MLflow's own loader these names)
            needed = [t for t in needed if not is_sklearn_estimator(t)]
        trusted = sorted(needed)
        foreign = [t for t in trusted if not _is_library_type(t)]
        try:  # prove the file loads back with exactly these types, as load will
            load_skops(target, trusted)
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise InvalidArgument(
                f"{qualified_name(model)} was saved with skops but does not load back "
                f"({type(exc).__name__}: {exc}); types it needs: {', '.join(foreign) or 'none'}. "
                "Pass flavor='python_function' to save it with cloudpickle instead "
                "(loading it will then execute code)"
            ) from exc
        versions = {"scikit-learn": sklearn.__version__, "skops": skops.__version__}
        return FlavorInfo(
            flavor=self.name,
            format="skops",
            model_class=qualified_name(model),
            data_files=(DATA_FILE,),
            executes_code_on_load=bool(foreign),
            config={"trusted_types": trusted},
            libraries=("sklearn", "skops", "numpy", "scipy"),
            library_versions=versions,
            mlflow_flavors={
                "sklearn": {
                    "code": None,
                    "pickled_model": DATA_FILE,
                    "serialization_format": "skops",
                    "sklearn_version": sklearn.__version__,
                    "skops_trusted_types": trusted or None,
                }
            },
        )

    def load(self, path: Path) -> NativePredictor:
        return NativePredictor(load_skops(path / DATA_FILE, self.trusted_types))


def load_skops(file: Path, trusted: Sequence[str]) -> Any:
    """Load a skops file trusting exactly ``trusted`` beyond skops' defaults
    (scikit-learn's estimators among them, see :func:`trusted_for`)."""
    io = skops_io()  # first: importing anything from skops imports skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    needed = trusted_for(file, trusted)
    try:
        with _loading():
            return io.load(file, trusted=needed)
    except UntrustedTypesFoundException as exc:  # pragma: no cover - trusted_for refuses first
        raise IntegrityError(
            f"Model file {file.name!r} needs types that were not recorded as trusted when it "
            f"was saved ({exc}); refusing to load it"
        ) from exc
