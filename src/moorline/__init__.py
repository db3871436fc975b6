"""moorline: the minimum viable MLOps stack in one ``pip install``.

The public SDK lives here; everything else is internal.

>>> import moorline  # doctest: +SKIP
>>> moorline.set_experiment("churn")  # doctest: +SKIP
>>> with moorline.start_run(run_name="baseline"):  # doctest: +SKIP
...     moorline.log_params({"lr": 0.1, "depth": 6})
...     moorline.log_metric("auc", 0.91, step=1)

Importing this module reads no settings and opens no store: that happens on
the first call that needs one (see ``docs/sdk.md``).
"""

from __future__ import annotations

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, MoorlineError, NotFound
from moorline.sdk._client import ArtifactInfo, Client
from moorline.sdk._fluent import (
    ActiveRun,
    active_run,
    end_run,
    get_tracking_uri,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from moorline.tracking.models import Experiment, Metric, Run, RunInfo, RunStatus, ViewType

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "ArtifactInfo",
    "Client",
    "Conflict",
    "Experiment",
    "InvalidArgument",
    "Metric",
    "MoorlineError",
    "NotFound",
    "Run",
    "RunInfo",
    "RunStatus",
    "ViewType",
    "__version__",
    "active_run",
    "end_run",
    "get_tracking_uri",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
