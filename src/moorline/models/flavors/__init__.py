"""Model flavors: one module per library, all behind :class:`~.base.Flavor`.

:data:`FLAVORS` is the fixed table from a manifest's ``flavor`` to its class;
a manifest can only pick an entry, never name code to import.

>>> sorted(FLAVORS)
['lightgbm', 'python_function', 'sklearn', 'xgboost']
>>> detect_flavor(object())
Traceback (most recent call last):
...
moorline.errors.InvalidArgument: Cannot log object: no flavor handles it ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moorline.errors import IntegrityError, InvalidArgument
from moorline.models.flavors.base import Flavor, FlavorInfo, Predictor, qualified_name
from moorline.models.flavors.lightgbm import LightGBMFlavor
from moorline.models.flavors.python_function import PythonFunctionFlavor
from moorline.models.flavors.sklearn import SklearnFlavor
from moorline.models.flavors.xgboost import XGBoostFlavor

#: In detection order: the boosting libraries' scikit-learn wrappers are also
#: scikit-learn estimators, and anything with ``predict`` is a python_function.
FLAVORS: Mapping[str, type[Flavor]] = {
    "xgboost": XGBoostFlavor,
    "lightgbm": LightGBMFlavor,
    "sklearn": SklearnFlavor,
    "python_function": PythonFunctionFlavor,
}


def detect_flavor(model: object) -> Flavor:
    """The flavor that saves ``model`` natively (with its default configuration)."""
    for cls in FLAVORS.values():
        if cls.accepts(model):
            return cls()
    raise InvalidArgument(
        f"Cannot log {qualified_name(model).removeprefix('builtins.')}: no flavor handles it "
        f"(known: {', '.join(FLAVORS)}) and it has no predict method"
    )


def choose_flavor(model: object, flavor: str | Flavor | None) -> Flavor:
    """``flavor`` as given (a name or an instance), else the detected one."""
    if flavor is None:
        return detect_flavor(model)
    if isinstance(flavor, Flavor):
        return flavor
    cls = FLAVORS.get(flavor) if isinstance(flavor, str) else None
    if cls is None:
        raise InvalidArgument(f"Unknown flavor {flavor!r}; expected one of {', '.join(FLAVORS)}")
    return cls()


def flavor_for_loading(name: str, fmt: str, config: Mapping[str, Any], *, where: str) -> Flavor:
    """Rebuild the flavor a manifest names, with the configuration it recorded."""
    cls = FLAVORS.get(name)
    if cls is None:
        raise IntegrityError(
            f"Model at {where} has flavor {name!r}, which this moorline cannot load "
            f"(known: {', '.join(FLAVORS)})"
        )
    if fmt not in cls.formats:
        raise IntegrityError(f"Model at {where}: flavor {name!r} has no format {fmt!r}")
    try:
        return cls(**dict(config))
    except (TypeError, InvalidArgument) as exc:
        raise IntegrityError(
            f"Model at {where}: the manifest's flavor_config does not fit the {name} flavor: {exc}"
        ) from exc


__all__ = [
    "FLAVORS",
    "Flavor",
    "FlavorInfo",
    "LightGBMFlavor",
    "Predictor",
    "PythonFunctionFlavor",
    "SklearnFlavor",
    "XGBoostFlavor",
    "choose_flavor",
    "detect_flavor",
    "flavor_for_loading",
]
