"""Contract of RegistryStore searches: filters, order and paging, for registered models
and model versions. Filters are written in MLflow's grammar and parsed as the
service parses them."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from moorline.core.paging import Page
from moorline.errors import InvalidArgument
from moorline.registry.models import ModelName, ModelVersion, RegisteredModel
from moorline.registry.ports import RegistryStore
from moorline.tracking._grammar import parse_filter, parse_order_by
from tests.contracts.registry_support import change, new_model, new_version, set_alias

RUN_A = "a" * 32
RUN_B = "b" * 32


def models(
    registry: RegistryStore,
    text: str | None = None,
    *,
    order: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[RegisteredModel]:
    return registry.search_registered_models(
        filter_clauses=parse_filter(text, kind="registered_model"),
        order_by=parse_order_by(list(order), kind="registered_model"),
        max_results=max_results,
        page_token=page_token,
    )


def versions(
    registry: RegistryStore,
    text: str | None = None,
    *,
    order: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[ModelVersion]:
    return registry.search_model_versions(
        filter_clauses=parse_filter(text, kind="model_version"),
        order_by=parse_order_by(list(order), kind="model_version"),
        max_results=max_results,
        page_token=page_token,
    )


def model_names(registry: RegistryStore, text: str | None = None, **kw: object) -> list[str]:
    return [m.name for m in models(registry, text, **kw).items]  # type: ignore[arg-type]


def version_keys(registry: RegistryStore, text: str | None = None, **kw: object) -> list[str]:
    return [f"{v.name}/{v.version}" for v in versions(registry, text, **kw).items]  # type: ignore[arg-type]


@pytest.fixture
def zoo(registry: RegistryStore) -> RegistryStore:
    """Models churn (3 versions), Churn-EU (1), fraud_2 (2) and empty."""
    new_model(registry, "fraud_2", now=30, tags={"team": "risk"})
    new_model(registry, "churn", now=10, tags={"team": "growth", "tier": "gold"})
    new_model(registry, "Churn-EU", now=20, tags={"team": "Growth"})
    new_model(registry, "empty", now=40)
    new_version(registry, "churn", now=100, run_id=RUN_A, source="s3://b/churn/1", tags={"f": "sk"})
    new_version(registry, "churn", now=101, run_id=RUN_B, source="s3://b/churn/2")
    new_version(
        registry, "churn", now=105, run_id=RUN_A, source="gs://b/churn/3", tags={"f": "xgb"}
    )
    new_version(registry, "Churn-EU", now=103, run_id=None, source="s3://b/eu/1", tags={"f": "sk"})
    new_version(registry, "fraud_2", now=102, run_id=RUN_B, source="s3://b/fraud/1")
    new_version(registry, "fraud_2", now=104, run_id=None, source="s3://b/fraud/2")
    set_alias(registry, "churn", "champion", 2)
    return registry


# -- registered models --------------------------------------------------------------------


def test_models_default_order_is_name(zoo: RegistryStore) -> None:
    # Code-point order on both backends: upper case before lower case.
    assert model_names(zoo) == ["Churn-EU", "churn", "empty", "fraud_2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'churn'", ["churn"]),
        ("name != 'churn'", ["Churn-EU", "empty", "fraud_2"]),
        ("name LIKE 'churn%'", ["churn"]),
        ("name LIKE '%_2'", ["fraud_2"]),
        ("name ILIKE 'churn%'", ["Churn-EU", "churn"]),
        ("name IN ('churn', 'empty', 'nope')", ["churn", "empty"]),
        ("name NOT IN ('churn', 'empty')", ["Churn-EU", "fraud_2"]),
        ("tags.team = 'growth'", ["churn"]),
        ("tags.team ILIKE 'GROWTH'", ["Churn-EU", "churn"]),
        ("tags.team != 'growth'", ["Churn-EU", "fraud_2"]),
        ("tags.team LIKE 'G%' AND name LIKE 'Churn%'", ["Churn-EU"]),
        ("tags.tier = 'gold' AND tags.team = 'growth'", ["churn"]),
        ("tags.missing = 'x'", []),
        # MLflow's prompt marker: a model without it is not a prompt (MLflow's client
        # appends the first clause to every search).
        ("tag.`mlflow.prompt.is_prompt` != 'true'", ["Churn-EU", "churn", "empty", "fraud_2"]),
        ("tags.`mlflow.prompt.is_prompt` = 'false' AND name LIKE 'c%'", ["churn"]),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", []),
    ],
)
def test_model_filters(zoo: RegistryStore, text: str, expected: list[str]) -> None:
    assert model_names(zoo, text) == expected


def test_model_order(zoo: RegistryStore) -> None:
    assert model_names(zoo, order=["creation_timestamp"]) == [
        "churn",
        "Churn-EU",
        "fraud_2",
        "empty",
    ]
    assert model_names(zoo, order=["name DESC"]) == ["fraud_2", "empty", "churn", "Churn-EU"]
    # Versions touch their model: last updates are churn 105, fraud_2 104, Churn-EU 103, empty 40.
    assert model_names(zoo, order=["last_updated_timestamp DESC"]) == [
        "churn",
        "fraud_2",
        "Churn-EU",
        "empty",
    ]


def test_model_search_loads_everything(zoo: RegistryStore) -> None:
    found = models(zoo, "name = 'churn'").items
    assert found == (zoo.get_registered_model(ModelName("churn")),)
    churn = found[0]
    assert churn.tags == {"team": "growth", "tier": "gold"}
    assert churn.aliases == {"champion": 2}
    assert [mv.version for mv in churn.latest_versions] == [3]


def test_model_paging(zoo: RegistryStore) -> None:
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = models(zoo, max_results=3, page_token=token)
        seen += [m.name for m in page.items]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 2 and seen == model_names(zoo)
    exact = models(zoo, max_results=4)
    assert len(exact.items) == 4 and exact.next_page_token is None
    with pytest.raises(InvalidArgument, match="page token"):
        models(zoo, page_token="not-a-token!")


# -- model versions -----------------------------------------------------------------------


def test_versions_default_order_is_name_then_newest(zoo: RegistryStore) -> None:
    assert version_keys(zoo) == [
        "Churn-EU/1",
        "churn/3",
        "churn/2",
        "churn/1",
        "fraud_2/2",
        "fraud_2/1",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'churn'", ["churn/3", "churn/2", "churn/1"]),
        ("name IN ('churn', 'fraud_2') AND version_number = 1", ["churn/1", "fraud_2/1"]),
        ("name ILIKE 'CHURN%' AND version_number > 1", ["churn/3", "churn/2"]),
        ("name LIKE 'churn%'", ["churn/3", "churn/2", "churn/1"]),
        ("version_number >= 2", ["churn/3", "churn/2", "fraud_2/2"]),
        ("version_number != 1 AND name = 'churn'", ["churn/3", "churn/2"]),
        ("version_number <= '1'", ["Churn-EU/1", "churn/1", "fraud_2/1"]),
        (f"run_id = '{RUN_A}'", ["churn/3", "churn/1"]),
        (f"run_id IN ('{RUN_A}', '{RUN_B}') AND name = 'fraud_2'", ["fraud_2/1"]),
        (f"run_id NOT IN ('{RUN_A}')", ["churn/2", "fraud_2/1"]),
        ("source_path LIKE 's3://b/churn/%'", ["churn/2", "churn/1"]),
        ("source_path = 'gs://b/churn/3'", ["churn/3"]),
        ("tags.f = 'sk'", ["Churn-EU/1", "churn/1"]),
        ("tags.f LIKE '%g%' AND name = 'churn'", ["churn/3"]),
        ("tags.f != 'sk'", ["churn/3"]),
        (
            "tags.`mlflow.prompt.is_prompt` != 'true' AND name = 'churn'",
            ["churn/3", "churn/2", "churn/1"],
        ),
    ],
)
def test_version_filters(zoo: RegistryStore, text: str, expected: list[str]) -> None:
    assert version_keys(zoo, text) == expected


def test_version_order(zoo: RegistryStore) -> None:
    assert version_keys(zoo, order=["creation_timestamp DESC"]) == [
        "churn/3",
        "fraud_2/2",
        "Churn-EU/1",
        "fraud_2/1",
        "churn/2",
        "churn/1",
    ]
    assert version_keys(zoo, "name = 'churn'", order=["version_number ASC"]) == [
        "churn/1",
        "churn/2",
        "churn/3",
    ]
    # Ties on the first key fall back to name ASC, version DESC.
    assert version_keys(zoo, order=["version_number"]) == [
        "Churn-EU/1",
        "churn/1",
        "fraud_2/1",
        "churn/2",
        "fraud_2/2",
        "churn/3",
    ]
    zoo.set_model_version_tag(ModelName("churn"), 1, "x", "y", now=999, change=change("t", "m"))
    assert version_keys(zoo, order=["last_updated_timestamp DESC"])[0] == "churn/1"


def test_version_search_loads_tags_and_aliases(zoo: RegistryStore) -> None:
    found = versions(zoo, "name = 'churn'").items
    assert found == tuple(zoo.get_model_version(ModelName("churn"), v) for v in (3, 2, 1))
    assert found[1].aliases == ("champion",) and found[0].tags == {"f": "xgb"}


def test_version_paging(zoo: RegistryStore) -> None:
    everything = version_keys(zoo)
    seen: list[str] = []
    token: str | None = None
    while True:
        page = versions(zoo, max_results=4, page_token=token)
        seen += [f"{v.name}/{v.version}" for v in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert seen == everything


def test_thousand_versions_register_and_search_fast(registry: RegistryStore) -> None:
    """Registering 1,000 versions and searching them stays far from the time a
    per-row query or an unindexed scan would take (generous bounds: the
    measured numbers are in the report, these only catch regressions)."""
    new_model(registry, "big")
    started = time.perf_counter()
    for n in range(1000):
        new_version(registry, "big", now=n, run_id=RUN_A, tags={"n": str(n), "kind": "gbm"})
    create_ms = (time.perf_counter() - started) * 1000 / 1000
    for n in range(0, 1000, 10):
        set_alias(registry, "big", f"a{n}", n + 1)
    versions(registry, "name = 'big'", max_results=1000)  # warm the statement cache
    # CPU time of this process (the REST backend's server is a thread of it): what the
    # search costs, not how busy the machine is (the test runs beside other workers)
    started = time.process_time()
    page = versions(registry, "name = 'big'", max_results=1000)
    search_ms = (time.process_time() - started) * 1000
    assert len(page.items) == 1000 and page.next_page_token is None
    assert page.items[0].version == 1000 and page.items[-1].tags == {"n": "0", "kind": "gbm"}
    assert sum(len(v.aliases) for v in page.items) == 100
    assert create_ms < 15, f"create_model_version took {create_ms:.2f} ms on average"
    assert search_ms < 400, f"searching 1,000 versions took {search_ms:.1f} ms of CPU"
