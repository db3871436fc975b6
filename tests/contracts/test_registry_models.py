"""Contract of RegistryStore, registered models: every registry backend must pass these."""

from __future__ import annotations

import pytest

from moorline.errors import AlreadyExists, NotFound
from moorline.registry.models import ModelName, PromotionPolicy, RiskLevel, Stage
from moorline.registry.ports import AuditStore, GovernanceStore, RegistryStore
from tests.contracts.registry_support import change, entries, new_model, new_version, set_alias

CHURN = ModelName("churn")


def test_create_and_get(registry: RegistryStore) -> None:
    created = new_model(
        registry, "churn", now=1234, tags={"team": "ml"}, description="predicts churn", user="bo"
    )
    got = registry.get_registered_model(CHURN)
    assert got == created
    assert got.name == "churn" and got.user_id == "bo" and got.description == "predicts churn"
    assert (got.creation_timestamp, got.last_updated_timestamp) == (1234, 1234)
    assert got.tags == {"team": "ml"}
    assert got.aliases == {} and got.latest_versions == ()


def test_names_are_unique_and_case_sensitive(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    with pytest.raises(AlreadyExists, match="churn"):
        new_model(registry, "churn")
    new_model(registry, "Churn")
    assert registry.get_registered_model(ModelName("Churn")).name == "Churn"


def test_missing_model_is_named(registry: RegistryStore) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        registry.get_registered_model(ModelName("ghost"))


def test_update_description(registry: RegistryStore) -> None:
    new_model(registry, "churn", now=10)
    updated = registry.update_registered_model(
        CHURN, description="v2 docs", now=20, change=change("update", "models:/churn")
    )
    assert updated.description == "v2 docs"
    assert (updated.creation_timestamp, updated.last_updated_timestamp) == (10, 20)
    assert registry.get_registered_model(CHURN) == updated
    with pytest.raises(NotFound, match="ghost"):
        registry.update_registered_model(
            ModelName("ghost"), description="", now=1, change=change("update", "models:/ghost")
        )


def test_tags_set_overwrite_delete(registry: RegistryStore) -> None:
    new_model(registry, "churn", now=10, tags={"a": "1"})
    registry.set_registered_model_tag(CHURN, "b", "2", now=20, change=change("tag", "m"))
    registry.set_registered_model_tag(CHURN, "a", "one", now=30, change=change("tag", "m"))
    got = registry.get_registered_model(CHURN)
    assert got.tags == {"a": "one", "b": "2"}
    assert got.last_updated_timestamp == 30
    registry.delete_registered_model_tag(CHURN, "a", now=40, change=change("untag", "m"))
    assert registry.get_registered_model(CHURN).tags == {"b": "2"}
    # As MLflow: deleting a tag the model lacks succeeds and changes nothing.
    registry.delete_registered_model_tag(CHURN, "zzz", now=50, change=change("untag", "m"))
    assert registry.get_registered_model(CHURN).tags == {"b": "2"}
    with pytest.raises(NotFound, match="ghost"):
        registry.set_registered_model_tag(
            ModelName("ghost"), "k", "v", now=1, change=change("tag", "m")
        )
    with pytest.raises(NotFound, match="ghost"):
        registry.delete_registered_model_tag(
            ModelName("ghost"), "k", now=1, change=change("t", "m")
        )


def test_latest_versions_per_stage(registry: RegistryStore) -> None:
    new_model(registry, "churn")
    for n in range(5):
        new_version(registry, "churn", now=100 + n)
    move = change("stage", "models:/churn")
    registry.transition_stage(
        CHURN, 1, stage=Stage.PRODUCTION, archive_existing=False, now=200, change=move
    )
    registry.transition_stage(
        CHURN, 2, stage=Stage.STAGING, archive_existing=False, now=201, change=move
    )
    registry.transition_stage(
        CHURN, 3, stage=Stage.STAGING, archive_existing=False, now=202, change=move
    )
    registry.transition_stage(
        CHURN, 4, stage=Stage.ARCHIVED, archive_existing=False, now=203, change=move
    )
    set_alias(registry, "churn", "champion", 1)
    model = registry.get_registered_model(CHURN)
    latest = {mv.current_stage: mv.version for mv in model.latest_versions}
    assert latest == {Stage.NONE: 5, Stage.STAGING: 3, Stage.PRODUCTION: 1, Stage.ARCHIVED: 4}
    assert len(model.latest_versions) == 4
    production = next(mv for mv in model.latest_versions if mv.current_stage == Stage.PRODUCTION)
    assert production == registry.get_model_version(CHURN, 1)
    assert production.aliases == ("champion",)
    assert model.aliases == {"champion": 1}


def test_rename_carries_versions_tags_aliases_and_governance(
    registry: RegistryStore, governance: GovernanceStore
) -> None:
    new_model(registry, "churn", now=10, tags={"team": "ml"})
    new_version(registry, "churn", tags={"stage": "exp"})
    new_version(registry, "churn")
    set_alias(registry, "churn", "champion", 2)
    governance.set_policy(
        PromotionPolicy(name=CHURN, risk=RiskLevel.HIGH, updated_at=5, updated_by="root"),
        change=change("policy.set", "models:/churn"),
    )
    renamed = registry.rename_registered_model(
        CHURN, ModelName("churn-v2"), now=99, change=change("rename", "models:/churn")
    )
    assert renamed.name == "churn-v2"
    assert renamed.tags == {"team": "ml"}
    assert renamed.aliases == {"champion": 2}
    assert renamed.creation_timestamp == 10 and renamed.last_updated_timestamp == 99
    assert renamed == registry.get_registered_model(ModelName("churn-v2"))
    with pytest.raises(NotFound):
        registry.get_registered_model(CHURN)
    v1 = registry.get_model_version(ModelName("churn-v2"), 1)
    assert v1.name == "churn-v2" and v1.tags == {"stage": "exp"}
    assert registry.get_version_by_alias(ModelName("churn-v2"), "champion").version == 2
    policy = governance.get_policy(ModelName("churn-v2"))
    assert policy is not None and policy.risk == RiskLevel.HIGH
    assert governance.get_policy(CHURN) is None
    # The counter moved too: the next version is 3, not 1.
    assert new_version(registry, "churn-v2").version == 3


def test_rename_errors(registry: RegistryStore, audit: AuditStore) -> None:
    new_model(registry, "a")
    new_model(registry, "b")
    before = len(entries(audit))
    with pytest.raises(AlreadyExists, match="'b'"):
        registry.rename_registered_model(
            ModelName("a"), ModelName("b"), now=1, change=change("rename", "models:/a")
        )
    with pytest.raises(NotFound, match="ghost"):
        registry.rename_registered_model(
            ModelName("ghost"), ModelName("c"), now=1, change=change("rename", "models:/ghost")
        )
    assert len(entries(audit)) == before
    assert registry.get_registered_model(ModelName("a")).name == "a"


def test_delete_cascades_and_name_can_be_reused(
    registry: RegistryStore, governance: GovernanceStore
) -> None:
    new_model(registry, "churn", tags={"t": "1"})
    new_version(registry, "churn", tags={"k": "v"})
    new_version(registry, "churn")
    set_alias(registry, "churn", "champion", 1)
    governance.set_policy(
        PromotionPolicy(name=CHURN, updated_at=5, updated_by="root"),
        change=change("policy.set", "models:/churn"),
    )
    registry.delete_registered_model(CHURN, change=change("delete", "models:/churn"))
    with pytest.raises(NotFound):
        registry.get_registered_model(CHURN)
    with pytest.raises(NotFound):
        registry.get_model_version(CHURN, 1)
    assert governance.get_policy(CHURN) is None
    with pytest.raises(NotFound, match="ghost"):
        registry.delete_registered_model(ModelName("ghost"), change=change("delete", "m"))
    # A new model with the old name starts from scratch.
    fresh = new_model(registry, "churn")
    assert fresh.tags == {} and fresh.aliases == {}
    assert new_version(registry, "churn").version == 1
    assert registry.get_model_version(CHURN, 1).tags == {}
