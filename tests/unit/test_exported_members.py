"""Pin the public surface of ``import moorline``: adding or removing a name is a decision."""

from __future__ import annotations

from importlib.metadata import version

import moorline

EXPECTED = [
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


def test_all_is_pinned() -> None:
    assert moorline.__all__ == EXPECTED


def test_every_exported_name_exists_and_every_public_name_is_exported() -> None:
    for name in moorline.__all__:
        assert hasattr(moorline, name), name
    public = {
        name
        for name, value in vars(moorline).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("moorline")
    }
    assert public <= set(moorline.__all__), sorted(public - set(moorline.__all__))


def test_version_matches_the_installed_distribution() -> None:
    assert moorline.__version__ == version("moorline")
