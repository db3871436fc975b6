"""Contract of ExperimentStore: every backend must pass these."""

from __future__ import annotations

import pytest

from moorline.errors import AlreadyExists, InvalidArgument, NotFound
from moorline.tracking.models import ExperimentId, LifecycleStage, Tag, ViewType
from moorline.tracking.ports import TrackingStore
from tests.contracts.support import clause, new_experiment, new_run, order


def names(tracking: TrackingStore, *filters: object, **kwargs: object) -> list[str]:
    page = tracking.search_experiments(
        view_type=kwargs.pop("view_type", ViewType.ACTIVE_ONLY),  # type: ignore[arg-type]
        filter_clauses=list(filters),  # type: ignore[arg-type]
        order_by=kwargs.pop("order_by", []),  # type: ignore[arg-type]
        max_results=kwargs.pop("max_results", 1000),  # type: ignore[arg-type]
        page_token=None,
    )
    return [e.name for e in page.items]


def test_default_experiment_exists(tracking: TrackingStore) -> None:
    default = tracking.get_experiment(ExperimentId("0"))
    assert default.name == "Default"
    assert default.artifact_location == "mlflow-artifacts:/0"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    by_name = tracking.get_experiment_by_name("Default")
    assert by_name is not None and by_name.experiment_id == "0"


def test_create_and_get(tracking: TrackingStore) -> None:
    eid = tracking.create_experiment(
        name="churn", artifact_location=None, tags=[Tag(key="team", value="ml")], now=1234
    )
    exp = tracking.get_experiment(eid)
    assert exp.experiment_id == eid and eid != "0"
    assert exp.name == "churn"
    assert exp.artifact_location == f"mlflow-artifacts:/{eid}"
    assert exp.lifecycle_stage == LifecycleStage.ACTIVE
    assert (exp.creation_time, exp.last_update_time) == (1234, 1234)
    assert exp.tags == {"team": "ml"}
    assert tracking.get_experiment_by_name("churn") == exp


def test_explicit_artifact_location_is_kept(tracking: TrackingStore) -> None:
    eid = tracking.create_experiment(name="s3", artifact_location="s3://b/p", tags=[], now=1)
    assert tracking.get_experiment(eid).artifact_location == "s3://b/p"


def test_ids_are_distinct(tracking: TrackingStore) -> None:
    ids = {new_experiment(tracking, f"e{i}") for i in range(5)}
    assert len(ids) == 5


def test_missing_experiment(tracking: TrackingStore) -> None:
    for bad in ("424242", "not-a-number", ""):
        with pytest.raises(NotFound):
            tracking.get_experiment(ExperimentId(bad))
    assert tracking.get_experiment_by_name("nope") is None


def test_duplicate_name_is_refused_even_when_deleted(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "dup")
    with pytest.raises(AlreadyExists, match="dup"):
        new_experiment(tracking, "dup")
    tracking.set_experiment_lifecycle(eid, LifecycleStage.DELETED, now=2)
    with pytest.raises(AlreadyExists, match="dup"):
        new_experiment(tracking, "dup")


def test_rename(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "old", now=10)
    other = new_experiment(tracking, "taken")
    tracking.rename_experiment(eid, "new", now=20)
    exp = tracking.get_experiment(eid)
    assert (exp.name, exp.last_update_time, exp.creation_time) == ("new", 20, 10)
    assert tracking.get_experiment_by_name("old") is None
    with pytest.raises(AlreadyExists):
        tracking.rename_experiment(eid, "taken", now=30)
    assert tracking.get_experiment(other).name == "taken"
    tracking.rename_experiment(eid, "new", now=40)  # its own name: fine
    with pytest.raises(NotFound):
        tracking.rename_experiment(ExperimentId("999999"), "x", now=1)


def test_delete_and_restore_take_the_runs_along(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "life")
    kept = new_run(tracking, eid, name="kept")
    deleted_before = new_run(tracking, eid, name="deleted-before")
    tracking.set_run_lifecycle(deleted_before, LifecycleStage.DELETED)

    tracking.set_experiment_lifecycle(eid, LifecycleStage.DELETED, now=50)
    exp = tracking.get_experiment(eid)
    assert exp.lifecycle_stage == LifecycleStage.DELETED
    assert exp.last_update_time == 50
    assert tracking.get_run(kept).info.lifecycle_stage == LifecycleStage.DELETED

    tracking.set_experiment_lifecycle(eid, LifecycleStage.ACTIVE, now=60)
    assert tracking.get_experiment(eid).lifecycle_stage == LifecycleStage.ACTIVE
    assert tracking.get_run(kept).info.lifecycle_stage == LifecycleStage.ACTIVE
    # A run deleted on its own before stays deleted.
    assert tracking.get_run(deleted_before).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(NotFound):
        tracking.set_experiment_lifecycle(ExperimentId("999999"), LifecycleStage.DELETED, now=1)


def test_deleted_experiment_refuses_new_runs(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "gone")
    tracking.set_experiment_lifecycle(eid, LifecycleStage.DELETED, now=2)
    with pytest.raises(InvalidArgument):
        new_run(tracking, eid)


def test_deleted_experiment_refuses_changes_until_restored(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "frozen")
    tracking.set_experiment_lifecycle(eid, LifecycleStage.DELETED, now=2)
    with pytest.raises(InvalidArgument):
        tracking.rename_experiment(eid, "thawed", now=3)
    with pytest.raises(InvalidArgument):
        tracking.set_experiment_tag(eid, Tag(key="k", value="v"))
    tracking.set_experiment_lifecycle(eid, LifecycleStage.ACTIVE, now=4)
    tracking.rename_experiment(eid, "thawed", now=5)
    assert tracking.get_experiment(eid).name == "thawed"


def test_view_types(tracking: TrackingStore) -> None:
    new_experiment(tracking, "alive")
    dead = new_experiment(tracking, "dead")
    tracking.set_experiment_lifecycle(dead, LifecycleStage.DELETED, now=5)
    assert set(names(tracking)) == {"Default", "alive"}
    assert names(tracking, view_type=ViewType.DELETED_ONLY) == ["dead"]
    assert set(names(tracking, view_type=ViewType.ALL)) == {"Default", "alive", "dead"}


def test_tags_upsert_and_delete(tracking: TrackingStore) -> None:
    eid = new_experiment(tracking, "tagged")
    tracking.set_experiment_tag(eid, Tag(key="k", value="1"))
    tracking.set_experiment_tag(eid, Tag(key="k", value="2"))
    tracking.set_experiment_tag(eid, Tag(key="other", value="x"))
    assert tracking.get_experiment(eid).tags == {"k": "2", "other": "x"}
    tracking.delete_experiment_tag(eid, "k")
    assert tracking.get_experiment(eid).tags == {"other": "x"}
    with pytest.raises(NotFound):
        tracking.delete_experiment_tag(eid, "k")
    with pytest.raises(NotFound):
        tracking.set_experiment_tag(ExperimentId("999999"), Tag(key="a", value="b"))


@pytest.fixture
def five(tracking: TrackingStore) -> dict[str, ExperimentId]:
    """Five experiments created at times 10..50, with tags on some."""
    out = {}
    specs = [
        ("Alpha", {"team": "vision"}),
        ("alpha-2", {"team": "nlp"}),
        ("beta", {"team": "Vision"}),
        ("gamma", {}),
        ("a_b", {"stage": "prod"}),
    ]
    for n, (name, tags) in enumerate(specs):
        out[name] = tracking.create_experiment(
            name=name,
            artifact_location=None,
            tags=[Tag(key=k, value=v) for k, v in tags.items()],
            now=10 * (n + 1),
        )
    return out


def test_search_default_order_is_newest_first(
    tracking: TrackingStore, five: dict[str, ExperimentId]
) -> None:
    assert names(tracking, clause("attribute", "name", "!=", "Default")) == [
        "a_b",
        "gamma",
        "beta",
        "alpha-2",
        "Alpha",
    ]


def test_search_filters(tracking: TrackingStore, five: dict[str, ExperimentId]) -> None:
    def match(*filters: object) -> set[str]:
        return set(names(tracking, *filters)) - {"Default"}

    assert match(clause("attribute", "name", "=", "beta")) == {"beta"}
    assert match(clause("attribute", "name", "LIKE", "alpha%")) == {"alpha-2"}
    assert match(clause("attribute", "name", "ILIKE", "alpha%")) == {"Alpha", "alpha-2"}
    assert match(clause("attribute", "name", "LIKE", "a_b")) == {"a_b"}  # '_' is one character
    assert match(clause("attribute", "name", "LIKE", "a%")) == {"alpha-2", "a_b"}
    assert match(clause("attribute", "creation_time", ">", 30)) == {"gamma", "a_b"}
    assert match(clause("attribute", "creation_time", "<=", 20.0)) == {"Alpha", "alpha-2"}
    assert match(clause("attribute", "last_update_time", "=", 40)) == {"gamma"}
    ids = (five["beta"], five["gamma"])
    assert match(clause("attribute", "experiment_id", "IN", ids)) == {"beta", "gamma"}
    assert match(clause("attribute", "experiment_id", "=", five["Alpha"])) == {"Alpha"}
    assert match(
        clause("attribute", "experiment_id", "NOT IN", (*ids, "0")),
    ) == {"Alpha", "alpha-2", "a_b"}
    assert match(clause("tag", "team", "=", "vision")) == {"Alpha"}
    assert match(clause("tag", "team", "ILIKE", "VISION")) == {"Alpha", "beta"}
    assert match(clause("tag", "team", "!=", "nlp")) == {"Alpha", "beta"}
    assert match(clause("tag", "team", "IS NULL")) == {"gamma", "a_b"}
    assert match(clause("tag", "stage", "IS NOT NULL")) == {"a_b"}
    assert match(
        clause("tag", "team", "LIKE", "%i%"), clause("attribute", "creation_time", ">", 10)
    ) == {"beta"}


def test_search_order_and_paging(tracking: TrackingStore, five: dict[str, ExperimentId]) -> None:
    not_default = clause("attribute", "name", "!=", "Default")
    by_name = [order("attribute", "name")]
    assert names(tracking, not_default, order_by=by_name) == [
        "Alpha",
        "a_b",
        "alpha-2",
        "beta",
        "gamma",
    ]
    desc = [order("attribute", "creation_time", ascending=False)]
    assert names(tracking, not_default, order_by=desc)[0] == "a_b"
    by_id = [order("attribute", "experiment_id")]
    assert names(tracking, order_by=by_id)[0] == "Default"

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = tracking.search_experiments(
            view_type=ViewType.ALL,
            filter_clauses=[not_default],
            order_by=by_name,
            max_results=2,
            page_token=token,
        )
        seen.extend(e.name for e in page.items)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3
    assert seen == ["Alpha", "a_b", "alpha-2", "beta", "gamma"]


def test_search_refuses_unknown_order_key(tracking: TrackingStore) -> None:
    with pytest.raises(InvalidArgument):
        names(tracking, order_by=[order("metric", "x")])
