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

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from moorline.errors import IntegrityError, InvalidArgument
from moorline.models.flavors.base import Flavor, FlavorInfo, NativePredictor, qualified_name

DATA_FILE = "model.skops"
#: Modules whose types are library code, not code the model file brings along.
LIBRARY_MODULES = ("sklearn", "numpy", "scipy")


def _is_library_type(name: str) -> bool:
    return name.split(".", 1)[0] in LIBRARY_MODULES


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
        import skops.io

        target = path / DATA_FILE
        try:
            skops.io.dump(model, target)
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise InvalidArgument(
                f"Cannot save {qualified_name(model)} with skops ({type(exc).__name__}: {exc}); "
                "pass flavor='python_function' to save it with cloudpickle instead "
                "(loading it will then execute code)"
            ) from exc
        trusted = sorted(skops.io.get_untrusted_types(file=target))
        foreign = [t for t in trusted if not _is_library_type(t)]
        try:  # prove the file loads back with exactly these types, as load will
            skops.io.load(target, trusted=trusted)
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
    """Load a skops file trusting exactly ``trusted`` beyond skops' defaults."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.load(file, trusted=list(trusted))
    except UntrustedTypesFoundException as exc:
        raise IntegrityError(
            f"Model file {file.name!r} needs types that were not recorded as trusted when it "
            f"was saved ({exc}); refusing to load it"
        ) from exc
