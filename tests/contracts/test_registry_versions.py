"""Contract of RegistryStore, versions and aliases: every registry backend must pass these."""

from __future__ import annotations

import pytest

from moorline.errors import InvalidArgument, NotFound
from moorline.registry.models import ModelName, Stage, VersionStatus
from moorline.registry.ports import AuditStore, RegistryStore
from tests.contracts.registry_support import change, entries, new_model, new_version, set_alias

CHURN = ModelName("churn")


def stage(
    registry: RegistryStore, version: int, to: Stage, *, archive: bool = False, now: int = 500
) -> None:
    registry.transition_stage(
        CHURN, version, stage=to, archive_existing=archive, now=now, change=change("stage", "m")
    )


def test_create_and_get_version(registry: RegistryStore) -> None:
    new_model(registry, "churn", now=10)
    created = registry.create_model_version(
        name=CHURN,
        source="s3://bucket/churn/1",
        run_id="0123456789abcdef0123456789abcdef",
        run_link="http://ui/runs/1",
        model_id="m-1",
        description="first",
        tags={"framework": "sklearn"},
        user_id="bo",
        now=77,
        change=change("model_version.create", "models:/churn/{version}"),
    )
    assert created.version == 1
    got = registry.get_model_version(CHURN, 1)
    assert got == created
    assert got.source == "s3://bucket/churn/1"
    assert got.run_id == "0123456789abcdef0123456789abcdef"
    assert (got.run_link, got.model_id, got.description, got.user_id) == (
        "http://ui/runs/1",
        "m-1",
        "first",
        "bo",
    )
    assert got.current_stage == Stage.NONE and got.status == VersionStatus.READY
    assert (got.creation_timestamp, got.last_updated_timestamp) == (77, 77)
    assert got.tags == {"framework": "sklearn"} and got.aliases == ()
    # Registering a version touches its model.
    assert registry.get_registered_model(CHURN).last_updated_timestamp == 77


def test_version_of_missing_model(registry: RegistryStore) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        new_version(registry, "ghost")
    new_model(registry, "churn")
    with pytest.raises(NotFound, match=r"version 7 .*'churn'"):
        registry.get_model_version(CHURN, 7)
    with pytest.raises(NotFound, match="'ghost'"):
        registry.get_model_version(ModelName("ghost"), 1)


def test_numbers_are_per_model_and_never_reused(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_model(registry, "fraud")
    assert [new_version(registry, "churn").version for _ in range(3)] == [1, 2, 3]
    assert new_version(registry, "fraud").version == 1
    registry.delete_model_version(CHURN, 3, change=change("delete", "m"))
    registry.delete_model_version(CHURN, 2, change=change("delete", "m"))
    assert new_version(registry, "churn").version == 4
    with pytest.raises(NotFound, match="version 2"):
        registry.get_model_version(CHURN, 2)
    with pytest.raises(NotFound, match="version 2"):
        registry.delete_model_version(CHURN, 2, change=change("delete", "m"))


def test_update_description(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn", now=5)
    updated = registry.update_model_version(
        CHURN, 1, description="better", now=9, change=change("update", "m")
    )
    assert updated.description == "better" and updated.last_updated_timestamp == 9
    assert registry.get_model_version(CHURN, 1) == updated
    with pytest.raises(NotFound, match="version 2"):
        registry.update_model_version(CHURN, 2, description="", now=1, change=change("u", "m"))


def test_version_tags(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn", tags={"a": "1"})
    new_version(registry, "churn", tags={"a": "other"})
    registry.set_model_version_tag(CHURN, 1, "b", "2", now=50, change=change("tag", "m"))
    registry.set_model_version_tag(CHURN, 1, "a", "one", now=60, change=change("tag", "m"))
    v1 = registry.get_model_version(CHURN, 1)
    assert v1.tags == {"a": "one", "b": "2"} and v1.last_updated_timestamp == 60
    assert registry.get_model_version(CHURN, 2).tags == {"a": "other"}
    registry.delete_model_version_tag(CHURN, 1, "a", now=70, change=change("untag", "m"))
    assert registry.get_model_version(CHURN, 1).tags == {"b": "2"}
    with pytest.raises(NotFound, match="version 9"):
        registry.set_model_version_tag(CHURN, 9, "k", "v", now=1, change=change("tag", "m"))
    with pytest.raises(NotFound, match="version 9"):
        registry.delete_model_version_tag(CHURN, 9, "k", now=1, change=change("tag", "m"))


def test_stage_transitions(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    for _ in range(3):
        new_version(registry, "churn")
    stage(registry, 1, Stage.PRODUCTION)
    stage(registry, 2, Stage.PRODUCTION)
    moved = registry.transition_stage(
        CHURN, 3, stage=Stage.STAGING, archive_existing=False, now=600, change=change("s", "m")
    )
    assert moved.current_stage == Stage.STAGING and moved.last_updated_timestamp == 600
    stages = {v: registry.get_model_version(CHURN, v).current_stage for v in (1, 2, 3)}
    assert stages == {1: Stage.PRODUCTION, 2: Stage.PRODUCTION, 3: Stage.STAGING}


def test_archive_existing(registry: RegistryStore, audit: AuditStore) -> None:
    new_model(registry, "churn")
    new_model(registry, "other")
    for _ in range(4):
        new_version(registry, "churn")
    new_version(registry, "other")
    stage(registry, 1, Stage.PRODUCTION)
    stage(registry, 2, Stage.PRODUCTION)
    stage(registry, 3, Stage.STAGING)
    registry.transition_stage(
        ModelName("other"),
        1,
        stage=Stage.PRODUCTION,
        archive_existing=False,
        now=1,
        change=change("s", "o"),
    )
    stage(registry, 4, Stage.PRODUCTION, archive=True, now=700)
    stages = {v: registry.get_model_version(CHURN, v) for v in (1, 2, 3, 4)}
    assert {v: mv.current_stage for v, mv in stages.items()} == {
        1: Stage.ARCHIVED,
        2: Stage.ARCHIVED,
        3: Stage.STAGING,
        4: Stage.PRODUCTION,
    }
    assert stages[1].last_updated_timestamp == 700
    # Other models are not touched, and the audit entry names what was archived.
    assert registry.get_model_version(ModelName("other"), 1).current_stage == Stage.PRODUCTION
    assert entries(audit)[-1].details["archived_versions"] == [1, 2]


def test_archive_existing_needs_an_active_stage(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn")
    for target in (Stage.NONE, Stage.ARCHIVED):
        with pytest.raises(InvalidArgument, match="Staging or Production"):
            stage(registry, 1, target, archive=True)
    with pytest.raises(NotFound, match="version 5"):
        stage(registry, 5, Stage.STAGING)


# -- aliases ------------------------------------------------------------------------------


def test_alias_set_move_resolve(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn")
    new_version(registry, "churn")
    set_alias(registry, "churn", "champion", 1, actor="ana", now=10)
    set_alias(registry, "churn", "challenger", 2, actor="bo", now=11)
    assert registry.get_version_by_alias(CHURN, "champion").version == 1
    assert registry.get_model_version(CHURN, 1).aliases == ("champion",)
    set_alias(registry, "churn", "champion", 2, actor="cy", now=12)
    resolved = registry.get_version_by_alias(CHURN, "champion")
    assert resolved.version == 2 and resolved.aliases == ("challenger", "champion")
    assert registry.get_model_version(CHURN, 1).aliases == ()
    infos = registry.list_aliases(CHURN)
    assert [(i.alias, i.version, i.updated_at, i.updated_by) for i in infos] == [
        ("challenger", 2, 11, "bo"),
        ("champion", 2, 12, "cy"),
    ]
    assert registry.get_registered_model(CHURN).aliases == {"challenger": 2, "champion": 2}


def test_alias_errors_name_what_is_missing(registry: RegistryStore, audit: AuditStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn")
    before = len(entries(audit))
    with pytest.raises(NotFound, match="version 4"):
        set_alias(registry, "churn", "champion", 4)
    with pytest.raises(NotFound, match="'ghost'"):
        set_alias(registry, "ghost", "champion", 1)
    with pytest.raises(NotFound, match="'champion'"):
        registry.get_version_by_alias(CHURN, "champion")
    with pytest.raises(NotFound, match="'champion'"):
        registry.delete_alias(CHURN, "champion", change=change("alias.delete", "m"))
    with pytest.raises(NotFound, match="'ghost'"):
        registry.list_aliases(ModelName("ghost"))
    assert len(entries(audit)) == before


def test_alias_delete(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn")
    set_alias(registry, "churn", "champion", 1)
    set_alias(registry, "churn", "backup", 1)
    registry.delete_alias(CHURN, "champion", change=change("alias.delete", "m"))
    with pytest.raises(NotFound, match="champion"):
        registry.get_version_by_alias(CHURN, "champion")
    assert registry.get_model_version(CHURN, 1).aliases == ("backup",)
    assert [a.alias for a in registry.list_aliases(CHURN)] == ["backup"]


def test_deleting_a_version_drops_its_aliases(registry: RegistryStore, audit: AuditStore) -> None:
    new_model(registry, "churn")
    new_version(registry, "churn", tags={"k": "v"})
    new_version(registry, "churn")
    set_alias(registry, "churn", "champion", 1)
    set_alias(registry, "churn", "shadow", 1)
    set_alias(registry, "churn", "challenger", 2)
    registry.delete_model_version(CHURN, 1, change=change("model_version.delete", "m"))
    assert registry.get_registered_model(CHURN).aliases == {"challenger": 2}
    with pytest.raises(NotFound, match="champion"):
        registry.get_version_by_alias(CHURN, "champion")
    assert entries(audit)[-1].details["dropped_aliases"] == ["champion", "shadow"]
    # A version with the same number can never come back, so neither can its tags.
    assert new_version(registry, "churn").tags == {}
