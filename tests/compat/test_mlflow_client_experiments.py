"""Experiments through the unmodified mlflow client: create, find, search, rename, delete."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.compat


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_set_experiment_creates_then_reuses() -> None:
    name = _name("set")
    assert MlflowClient().get_experiment_by_name(name) is None
    created = mlflow.set_experiment(name)
    again = mlflow.set_experiment(name)
    assert again.experiment_id == created.experiment_id
    fetched = MlflowClient().get_experiment(created.experiment_id)
    assert fetched.name == name
    assert fetched.lifecycle_stage == "active"
    assert fetched.artifact_location == f"mlflow-artifacts:/{created.experiment_id}"
    assert fetched.creation_time > 0


def test_default_experiment_exists() -> None:
    default = MlflowClient().get_experiment("0")
    assert default.name == "Default"


def test_duplicate_name_is_refused() -> None:
    client = MlflowClient()
    name = _name("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_missing_experiment_is_not_found() -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_experiment("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_tags_set_and_delete() -> None:
    client = MlflowClient()
    exp_id = client.create_experiment(_name("tags"), tags={"team": "fraud", "tier": "1"})
    client.set_experiment_tag(exp_id, "tier", "2")
    client.delete_experiment_tag(exp_id, "team")
    assert client.get_experiment(exp_id).tags == {"tier": "2"}


def test_search_filter_order_and_pages() -> None:
    client = MlflowClient()
    prefix = _name("search")
    ids = [client.create_experiment(f"{prefix}-{i:02d}", tags={"n": str(i)}) for i in range(7)]

    found = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]
    )
    assert [e.experiment_id for e in found] == list(reversed(ids))

    tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}-%' AND tags.n = '3'")
    assert [e.experiment_id for e in tagged] == [ids[3]]

    seen: list[str] = []
    token = None
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name ASC"],
            max_results=3,
            page_token=token,
        )
        assert len(page) <= 3
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert seen == ids


def test_search_bad_filter_is_invalid() -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().search_experiments(filter_string="name = 'a' OR name = 'b'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_rename_delete_restore() -> None:
    client = MlflowClient()
    old, new = _name("old"), _name("new")
    exp_id = client.create_experiment(old)
    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(old) is None

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    active = {e.experiment_id for e in client.search_experiments(filter_string=f"name = '{new}'")}
    deleted = {
        e.experiment_id
        for e in client.search_experiments(
            view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{new}'"
        )
    }
    assert exp_id not in active
    assert exp_id in deleted

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [
        e.experiment_id for e in client.search_experiments(filter_string=f"name = '{new}'")
    ] == [exp_id]
