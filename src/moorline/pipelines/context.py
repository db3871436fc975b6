"""What the user's pipeline code receives: :class:`TrainingContext` and :class:`DataContext`.

A training function takes one argument and returns a fitted model (or logs
one itself with :meth:`TrainingContext.log_model` and returns nothing)::

    def fit(ctx):
        frame = ctx.frame()
        X, y = frame[ctx.features], frame[ctx.label]
        model = GradientBoostingRegressor(random_state=ctx.params["seed"]).fit(X, y)
        ctx.run.log_metric("train_rows", len(frame))
        return model

moorline then logs the model into the run, registers it as a new version,
scores it and the champion on the holdout and applies the gate. Inside the
function ``moorline.log_metric`` and friends log into the pipeline's run too
(it is the active run of the worker process).

A data function (a ``function`` data source) receives a :class:`DataContext`
and returns a pandas DataFrame or a PyArrow table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moorline.sdk._fluent import ActiveRun
    from moorline.sdk.models import ModelInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class DataContext:
    """Given to a data function: the pipeline's ``params``, the ``trigger`` that
    started the run (kind and details, e.g. the alert and its window) and
    ``role``: ``train`` or ``holdout``."""

    pipeline: str
    params: Mapping[str, Any]
    trigger: Mapping[str, Any]
    role: str


@dataclass(slots=True, kw_only=True)
class TrainingContext:
    """Given to a training function.

    ``data``: the training data window as a PyArrow table (:meth:`frame` gives
    it as a pandas DataFrame); ``label`` and ``features``: the evaluation's
    label column and the model's input columns; ``params``: the pipeline's
    parameters (with a manual run's overrides); ``run``: the tracked run;
    ``trigger``: what started it.
    """

    pipeline: str
    params: Mapping[str, Any]
    data: Any
    label: str
    features: list[str]
    run: ActiveRun
    trigger: Mapping[str, Any]
    model_name: str
    workdir: str
    _logged: ModelInfo | None = field(default=None, repr=False)

    def frame(self) -> Any:
        """The training data as a pandas DataFrame."""
        return self.data.to_pandas()

    @property
    def logged_model(self) -> ModelInfo | None:
        """The model logged with :meth:`log_model`, if any."""
        return self._logged

    def log_model(self, model: Any, **options: Any) -> ModelInfo:
        """Log ``model`` as this run's model (artifact path ``model``); ``options``
        go to :func:`moorline.log_model` (``input_example``, ``signature``,
        ``flavor``, ``pip_requirements``). Registration is moorline's job."""
        from moorline.sdk.models import log_model

        if "registered_model_name" in options or "run_id" in options:
            raise TypeError("log_model in a pipeline registers and places the model itself")
        info = log_model(model, "model", run_id=self.run.run_id, **options)
        self._logged = info
        return info


__all__ = ["DataContext", "TrainingContext"]
