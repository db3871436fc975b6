"""XGBoost boosters and scikit-learn wrappers, in XGBoost's own JSON or UBJSON format.

Nothing is pickled: the model is XGBoost's documented model file, and the
class to rebuild comes from a fixed table, never from a name in the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from moorline.errors import InvalidArgument
from moorline.models.flavors.base import (
    Flavor,
    FlavorInfo,
    NativePredictor,
    call_user_code,
    qualified_name,
)

#: ``model_class`` values this flavor saves and loads.
MODEL_CLASSES = (
    "Booster",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)
FORMATS = {"ubj": "model.ubj", "json": "model.json"}


class XGBoostFlavor(Flavor):
    """``format``: ``ubj`` (binary, the default) or ``json``; ``model_class``: the
    class to rebuild at load, one of :data:`MODEL_CLASSES`.

    >>> XGBoostFlavor(format="json").data_file
    'model.json'
    """

    name: ClassVar[str] = "xgboost"
    formats: ClassVar[tuple[str, ...]] = tuple(FORMATS)

    def __init__(self, *, format: str = "ubj", model_class: str | None = None) -> None:
        if format not in FORMATS:
            raise InvalidArgument(
                f"XGBoost format must be one of {sorted(FORMATS)}, not {format!r}"
            )
        if model_class is not None and model_class not in MODEL_CLASSES:
            raise InvalidArgument(
                f"XGBoost model_class must be one of {', '.join(MODEL_CLASSES)}, "
                f"not {model_class!r}"
            )
        self.format = format
        self.model_class = model_class

    @property
    def data_file(self) -> str:
        return FORMATS[self.format]

    @classmethod
    def accepts(cls, model: object) -> bool:
        xgb = sys.modules.get("xgboost")
        return xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel)

    def save(self, model: Any, path: Path) -> FlavorInfo:
        import xgboost as xgb

        cls_name = type(model).__name__
        if not self.accepts(model) or getattr(xgb, cls_name, None) is not type(model):
            raise InvalidArgument(
                f"The xgboost flavor saves {', '.join(MODEL_CLASSES)}, not "
                f"{qualified_name(model)}; pass flavor='python_function' for a subclass"
            )
        model.save_model(str(path / self.data_file))
        return FlavorInfo(
            flavor=self.name,
            format=self.format,
            model_class=qualified_name(model),
            data_files=(self.data_file,),
            executes_code_on_load=False,
            config={"format": self.format, "model_class": cls_name},
            libraries=("xgboost", "numpy", "scipy"),
            library_versions={"xgboost": xgb.__version__},
            mlflow_flavors={
                "xgboost": {
                    "code": None,
                    "data": self.data_file,
                    "model_class": f"{type(model).__module__}.{cls_name}",
                    "model_format": self.format,
                    "xgb_version": xgb.__version__,
                }
            },
        )

    def load(self, path: Path) -> NativePredictor | BoosterPredictor:
        import xgboost as xgb

        if self.model_class is None:
            raise InvalidArgument("Loading an XGBoost model needs its model_class")
        model = getattr(xgb, self.model_class)()
        model.load_model(str(path / self.data_file))
        if isinstance(model, xgb.Booster):
            return BoosterPredictor(model)
        return NativePredictor(model)


class BoosterPredictor:
    """A bare Booster predicts on a DMatrix; build it from the input."""

    def __init__(self, booster: Any) -> None:
        self._booster = booster

    @property
    def raw(self) -> Any:
        return self._booster

    def predict(self, data: Any) -> Any:
        import xgboost as xgb

        matrix = data if isinstance(data, xgb.DMatrix) else xgb.DMatrix(data)
        return call_user_code(self._booster.predict, matrix, what="xgboost.Booster")
