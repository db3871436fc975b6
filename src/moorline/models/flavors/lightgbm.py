"""LightGBM boosters and scikit-learn wrappers, in LightGBM's own text format.

The text format holds the booster only. For the scikit-learn wrappers the
flavor keeps what ``predict`` adds on top of the booster: a classifier's
``classes_`` (stored in the manifest) turn probabilities back into labels
exactly as ``LGBMClassifier.predict`` does. The loaded model's ``raw`` is
the :class:`lightgbm.Booster`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from moorline.errors import InvalidArgument
from moorline.models.flavors.base import Flavor, FlavorInfo, call_user_code, qualified_name

DATA_FILE = "model.txt"
MODEL_CLASSES = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")
_SCALARS = (str, int, float, bool)


class LightGBMFlavor(Flavor):
    """``model_class``: one of :data:`MODEL_CLASSES`; ``classes``: a classifier's labels.

    >>> LightGBMFlavor(model_class="LGBMClassifier", classes=[0, 1]).classes
    (0, 1)
    """

    name: ClassVar[str] = "lightgbm"
    formats: ClassVar[tuple[str, ...]] = ("text",)

    def __init__(
        self,
        *,
        format: str = "text",
        model_class: str = "Booster",
        classes: Sequence[Any] | None = None,
    ) -> None:
        if format != "text":
            raise InvalidArgument(f"LightGBM format must be 'text', not {format!r}")
        if model_class not in MODEL_CLASSES:
            raise InvalidArgument(
                f"LightGBM model_class must be one of {', '.join(MODEL_CLASSES)}, "
                f"not {model_class!r}"
            )
        if classes is not None and (
            isinstance(classes, str) or not all(isinstance(c, _SCALARS) for c in classes)
        ):
            raise InvalidArgument("LightGBM classes must be a list of str, int, float or bool")
        if model_class == "LGBMClassifier" and not classes:
            raise InvalidArgument("A LightGBM classifier needs its classes to be loaded")
        self.model_class = model_class
        self.classes = None if classes is None else tuple(classes)

    @classmethod
    def accepts(cls, model: object) -> bool:
        lgb = sys.modules.get("lightgbm")
        return lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel)

    def save(self, model: Any, path: Path) -> FlavorInfo:
        import lightgbm as lgb

        cls_name = type(model).__name__
        if not self.accepts(model) or getattr(lgb, cls_name, None) is not type(model):
            raise InvalidArgument(
                f"The lightgbm flavor saves {', '.join(MODEL_CLASSES)}, not "
                f"{qualified_name(model)}; pass flavor='python_function' for a subclass"
            )
        config: dict[str, Any] = {"format": "text", "model_class": cls_name}
        if isinstance(model, lgb.Booster):
            booster = model
        else:
            if callable(getattr(model, "objective", None)):
                raise InvalidArgument(
                    "A LightGBM model with a custom objective function cannot be saved in the "
                    "text format; pass flavor='python_function'"
                )
            booster = model.booster_
            if isinstance(model, lgb.LGBMClassifier):
                config["classes"] = [_scalar(c) for c in model.classes_]
        booster.save_model(str(path / DATA_FILE))
        return FlavorInfo(
            flavor=self.name,
            format="text",
            model_class=qualified_name(model),
            data_files=(DATA_FILE,),
            executes_code_on_load=False,
            config=config,
            libraries=("lightgbm", "numpy", "scipy"),
            library_versions={"lightgbm": lgb.__version__},
        )

    def load(self, path: Path) -> LightGBMPredictor:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(path / DATA_FILE))
        return LightGBMPredictor(booster, classes=self.classes)


def _scalar(value: Any) -> Any:
    plain = value.item() if hasattr(value, "item") else value
    if not isinstance(plain, _SCALARS):
        raise InvalidArgument(
            f"LightGBM class label {value!r} is not a str, int, float or bool; "
            "pass flavor='python_function'"
        )
    return plain


class LightGBMPredictor:
    """Booster predictions; with ``classes``, labels as ``LGBMClassifier.predict`` gives."""

    def __init__(self, booster: Any, *, classes: tuple[Any, ...] | None) -> None:
        self._booster = booster
        self._classes = classes

    @property
    def raw(self) -> Any:
        return self._booster

    def predict(self, data: Any) -> Any:
        import numpy as np

        scores = call_user_code(self._booster.predict, data, what="lightgbm.Booster")
        if self._classes is None:
            return scores
        proba = np.asarray(scores)
        if proba.ndim == 1:  # binary: the positive class's probability
            proba = np.vstack((1.0 - proba, proba)).transpose()
        return np.asarray(self._classes)[np.argmax(proba, axis=1)]
