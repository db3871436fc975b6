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

import importlib
from typing import TYPE_CHECKING, Any

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, MoorlineError, NotFound
from moorline.registry.models import ModelVersion, RegisteredModel
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
from moorline.sdk.datasets import load_dataset, log_dataset
from moorline.sdk.models import load_model, log_model
from moorline.sdk.registry import (
    delete_alias,
    get_model_version,
    get_registered_model,
    register_model,
    search_model_versions,
    set_alias,
)
from moorline.tracking.models import Experiment, Metric, Run, RunInfo, RunStatus, ViewType

if TYPE_CHECKING:
    from moorline.sdk.serving import (
        declare_consumer,
        deploy,
        get_deployment,
        rollback,
        set_traffic,
    )

__version__ = "0.1.0"

#: Names imported on first use, so that ``import moorline`` stays cheap.
_LAZY = {
    "declare_consumer": "moorline.sdk.serving",
    "deploy": "moorline.sdk.serving",
    "get_deployment": "moorline.sdk.serving",
    "rollback": "moorline.sdk.serving",
    "set_traffic": "moorline.sdk.serving",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'moorline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "ArtifactInfo",
    "Client",
    "Conflict",
    "Experiment",
    "InvalidArgument",
    "Metric",
    "ModelVersion",
    "MoorlineError",
    "NotFound",
    "RegisteredModel",
    "Run",
    "RunInfo",
    "RunStatus",
    "ViewType",
    "__version__",
    "active_run",
    "declare_consumer",
    "delete_alias",
    "deploy",
    "end_run",
    "get_deployment",
    "get_model_version",
    "get_registered_model",
    "get_tracking_uri",
    "load_dataset",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "rollback",
    "search_model_versions",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "set_traffic",
    "start_run",
]
