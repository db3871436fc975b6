"""MLflow's model registry through the unmodified mlflow client against a live moorline server.

Registration the ways users do it (``log_model(registered_model_name=...)``,
``mlflow.register_model("runs:/...")``, ``MlflowClient`` calls), aliases,
tags, descriptions, search with filters and paging, the deprecated stages,
rename and delete, and loading ``models:/name@alias`` / ``models:/name/1``
back with exactly the predictions of the model that was logged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.compat


@dataclass(frozen=True)
class Trained:
    run_id: str
    model_id: str
    model: object
    features: pd.DataFrame


def _name(prefix: str = "reg") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _error_code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def _train_and_log(registered_model_name: str | None = None) -> Trained:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300, C=0.7).fit(features, labels)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=registered_model_name,
            input_example=features.iloc[:2],
            pip_requirements=["scikit-learn"],
        )
    return Trained(run_id=run.info.run_id, model_id=info.model_id, model=model, features=features)


@pytest.fixture(scope="module")
def logged(tracking_uri: str) -> Trained:
    """One trained and logged (not registered) model, shared by the tests that register it."""
    mlflow.set_experiment(f"compat-registry-{uuid.uuid4().hex[:8]}")
    return _train_and_log()


def test_log_model_registers_and_loads_by_alias_and_version(experiment_id: str) -> None:
    name = _name("iris")
    trained = _train_and_log(registered_model_name=name)
    client = MlflowClient()

    mv = client.get_model_version(name, "1")
    assert mv.version == "1"
    assert mv.status == "READY"
    assert mv.run_id == trained.run_id
    assert mv.source == f"models:/{trained.model_id}"
    assert mv.current_stage == "None"
    logged_model = client.get_logged_model(trained.model_id)
    assert client.get_model_version_download_uri(name, "1") == logged_model.artifact_location

    client.set_registered_model_alias(name, "champion", "1")
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])
    model = client.get_registered_model(name)
    assert model.aliases == {"champion": "1"}
    assert [v.version for v in model.latest_versions] == ["1"]

    expected = trained.model.predict(trained.features)  # type: ignore[attr-defined]
    expected_proba = trained.model.predict_proba(trained.features)  # type: ignore[attr-defined]
    by_alias_model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(by_alias_model.predict(trained.features), expected)
    by_version_model = mlflow.sklearn.load_model(f"models:/{name}/1")
    np.testing.assert_array_equal(by_version_model.predict_proba(trained.features), expected_proba)

    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as info:
        client.get_model_version_by_alias(name, "champion")
    assert _error_code(info) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {}


def test_register_model_from_runs_uri(logged: Trained) -> None:
    name = _name("runs-uri")
    first = mlflow.register_model(f"runs:/{logged.run_id}/model", name)
    second = mlflow.register_model(f"runs:/{logged.run_id}/model", name)  # model exists: v2
    assert (first.version, second.version) == ("1", "2")
    assert first.run_id == second.run_id == logged.run_id
    assert second.source == f"models:/{logged.model_id}"

    loaded = mlflow.pyfunc.load_model(f"models:/{name}/2")
    np.testing.assert_array_equal(
        loaded.predict(logged.features),
        logged.model.predict(logged.features),  # type: ignore[attr-defined]
    )


def test_versions_descriptions_and_tags(logged: Trained) -> None:
    client = MlflowClient()
    name = _name("tags")
    created = client.create_registered_model(
        name, tags={"team": "risk", "tier": "1"}, description="scores churn"
    )
    assert created.description == "scores churn"
    assert created.tags == {"team": "risk", "tier": "1"}

    source = f"models:/{logged.model_id}"
    mv = client.create_model_version(name, source, tags={"data": "2024-q1"}, description="first")
    assert (mv.version, mv.run_id, mv.description) == ("1", logged.run_id, "first")
    assert mv.tags == {"data": "2024-q1"}
    client.create_model_version(name, source, run_id=logged.run_id)

    updated = client.update_model_version(name, "1", description="first, re-scored")
    assert updated.description == "first, re-scored"
    client.update_registered_model(name, description="scores churn monthly")

    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "tier")
    client.set_model_version_tag(name, "1", "validated", "true")
    client.delete_model_version_tag(name, "1", "data")

    model = client.get_registered_model(name)
    assert model.description == "scores churn monthly"
    assert model.tags == {"team": "risk", "owner": "ana"}
    first = client.get_model_version(name, "1")
    assert first.description == "first, re-scored"
    assert first.tags == {"validated": "true"}
    assert client.get_model_version(name, "2").tags == {}


def test_search_registered_models_and_versions_with_filters_and_paging(logged: Trained) -> None:
    client = MlflowClient()
    prefix = f"search-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"team": "a" if i % 2 == 0 else "b"})
        for _ in range(i % 3 + 1):
            client.create_model_version(
                name, f"models:/{logged.model_id}", tags={"parity": str(i % 2)}
            )
    other_run = client.create_run(mlflow.get_experiment_by_name("Default").experiment_id)
    client.create_model_version(
        names[4], "mlflow-artifacts:/0/elsewhere", run_id=other_run.info.run_id
    )

    def found(filter_string: str) -> list[str]:
        return [m.name for m in client.search_registered_models(filter_string)]

    assert found(f"name = '{names[2]}'") == [names[2]]
    assert found(f"name LIKE '{prefix}-%'") == names
    assert found(f"name LIKE '{prefix}-%' AND tags.team = 'b'") == [names[1], names[3]]
    assert found(f"name ILIKE '{prefix.upper()}-%' AND tag.`team` != 'b'") == names[0::2]
    descending = client.search_registered_models(f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [m.name for m in descending] == names[::-1]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_registered_models(
            f"name LIKE '{prefix}-%'", max_results=2, page_token=token
        )
        seen += [m.name for m in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert (seen, pages) == (names, 3)

    def versions(filter_string: str, **kwargs: object) -> list[tuple[str, str]]:
        return [
            (mv.name, mv.version)
            for mv in client.search_model_versions(filter_string, **kwargs)  # type: ignore[arg-type]
        ]

    assert versions(f"name = '{names[2]}'") == [(names[2], "3"), (names[2], "2"), (names[2], "1")]
    assert versions(f"run_id = '{other_run.info.run_id}'") == [(names[4], "3")]
    by_tag = versions(f"name LIKE '{prefix}-%' AND tags.parity = '1'")
    assert by_tag == [(names[1], "2"), (names[1], "1"), (names[3], "1")]
    assert versions(f"name IN ('{names[0]}', '{names[1]}')", order_by=["version_number ASC"]) == [
        (names[0], "1"),
        (names[1], "1"),
        (names[1], "2"),
    ]
    assert len(versions(f"run_id = '{logged.run_id}' AND name LIKE '{prefix}-%'")) == 9

    paged: list[tuple[str, str]] = []
    token = None
    while True:
        page = client.search_model_versions(
            f"name LIKE '{prefix}-%'", max_results=4, page_token=token
        )
        paged += [(mv.name, mv.version) for mv in page]
        token = page.token
        if not token:
            break
    assert len(paged) == len(set(paged)) == 10
    assert paged == versions(f"name LIKE '{prefix}-%'")


# MLflow warns that stages are deprecated; moorline still serves them for old clients.
@pytest.mark.filterwarnings("ignore:.*deprecated.*:FutureWarning")
def test_stages_and_latest_versions(logged: Trained) -> None:
    client = MlflowClient()
    name = _name("stages")
    client.create_registered_model(name)
    for _ in range(4):
        client.create_model_version(name, f"models:/{logged.model_id}")

    staged = client.transition_model_version_stage(name, "1", "Staging")
    assert staged.current_stage == "Staging"
    client.transition_model_version_stage(name, "2", "production")
    promoted = client.transition_model_version_stage(
        name, "3", "Production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    assert client.get_model_version(name, "2").current_stage == "Archived"

    latest = {mv.current_stage: mv.version for mv in client.get_latest_versions(name)}
    assert latest == {"None": "4", "Staging": "1", "Production": "3", "Archived": "2"}
    production = client.get_latest_versions(name, stages=["Production"])
    assert [mv.version for mv in production] == ["3"]

    loaded = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    np.testing.assert_array_equal(
        loaded.predict(logged.features),
        logged.model.predict(logged.features),  # type: ignore[attr-defined]
    )


def test_rename_and_delete(logged: Trained) -> None:
    client = MlflowClient()
    name, new_name = _name("old"), _name("new")
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, f"models:/{logged.model_id}")
    client.set_registered_model_alias(name, "challenger", "2")

    client.rename_registered_model(name, new_name)
    assert client.get_registered_model(new_name).name == new_name
    with pytest.raises(MlflowException) as info:
        client.get_registered_model(name)
    assert _error_code(info) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version(new_name, "2").aliases == ["challenger"]
    assert client.get_model_version_by_alias(new_name, "challenger").name == new_name

    client.delete_model_version(new_name, "2")
    with pytest.raises(MlflowException) as info:
        client.get_model_version(new_name, "2")
    assert _error_code(info) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(new_name).aliases == {}
    assert [mv.version for mv in client.search_model_versions(f"name = '{new_name}'")] == [
        "3",
        "1",
    ]
    assert client.create_model_version(new_name, f"models:/{logged.model_id}").version == "4"

    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as info:
        client.get_registered_model(new_name)
    assert _error_code(info) == "RESOURCE_DOES_NOT_EXIST"
    assert list(client.search_model_versions(f"name = '{new_name}'")) == []
    assert list(client.search_registered_models(f"name = '{new_name}'")) == []
