"""The SQL monitor store on SQLite and PostgreSQL: results by id, and the rules
the service adds on top (a result asked for under another monitor is not there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from moorline.errors import InvalidArgument, NotFound
from moorline.monitoring.monitors import FileSource, Monitor, MonitorResult, MonitorStatus
from moorline.monitoring.service import MonitorService
from moorline.store.sql import create_engine_for, upgrade
from moorline.store.sql.monitors import SqlMonitorStore
from tests.contracts.sql_backend import postgres_database


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path_factory.mktemp('monitor-store') / 'moorline.db'}"
        upgrade(uri)
        built = create_engine_for(uri)
        try:
            yield built
        finally:
            built.dispose()
        return
    with postgres_database() as uri:
        built = create_engine_for(uri)
        try:
            yield built
        finally:
            built.dispose()


def _monitor(name: str) -> Monitor:
    return Monitor(
        name=name,
        model="m",
        reference=FileSource(path="ref.csv"),
        current=FileSource(path="cur.csv"),
        created_at=1,
        updated_at=1,
    )


def _result(monitor: str, run_at: int, **extra: object) -> MonitorResult:
    return MonitorResult(
        monitor=monitor,
        run_at=run_at,
        status=MonitorStatus.ALERTING,
        window={"source": "file:cur.csv", "rows": 12},
        drift={"dataset": {"share": 0.5}, "distributions": {"x": {"edges": [0.0, 1.0]}}},
        performance={"mae": 0.25, "degraded": True},
        alerts=("x/" + monitor,),
        duration_ms=7,
        **extra,  # type: ignore[arg-type]
    )


def test_results_are_found_by_id_whichever_monitor_ran_them(engine: Engine) -> None:
    store = SqlMonitorStore(engine)
    for name in ("a", "b"):
        store.create_monitor(_monitor(name))
    try:
        first = store.append_result(_result("a", 1_000))
        second = store.append_result(_result("b", 2_000))
        third = store.append_result(_result("a", 3_000, error="late"))
        assert first.id is not None and second.id is not None and third.id is not None
        assert len({first.id, second.id, third.id}) == 3
        for stored in (first, second, third):
            assert stored.id is not None
            assert store.get_result(stored.id) == stored
        assert store.get_result(second.id).monitor == "b"
        # What a page lists and what an id finds are the same record.
        assert store.list_results("a", max_results=10).items == (third, first)
        with pytest.raises(NotFound, match="9999999"):
            store.get_result(9_999_999)
        for bad in (0, -1, 2**63):
            with pytest.raises(InvalidArgument, match="result id"):
                store.get_result(bad)

        service = MonitorService(store, windows=None, artifacts=None)  # type: ignore[arg-type]
        assert service.result(first.id) == first
        assert service.result(first.id, monitor="a") == first
        with pytest.raises(NotFound, match="'b' has no result"):
            service.result(first.id, monitor="b")
        with pytest.raises(InvalidArgument, match="monitor name"):
            service.result(first.id, monitor="<b>")

        # Deleting a monitor deletes its results: their ids are gone too.
        store.delete_monitor("a")
        with pytest.raises(NotFound):
            store.get_result(first.id)
        assert store.get_result(second.id) == second
    finally:
        for name in ("a", "b"):
            with contextlib.suppress(NotFound):
                store.delete_monitor(name)


def test_result_documents_round_trip_unchanged(engine: Engine) -> None:
    store = SqlMonitorStore(engine)
    store.create_monitor(_monitor("round"))
    try:
        nan = _result("round", 5_000, quality={"issues": [], "value": float("nan")})
        stored = store.append_result(nan)
        assert stored.id is not None
        again = store.get_result(stored.id)
        # NaN is stored as null (rules read it as unknown); the rest is unchanged.
        assert again.quality == {"issues": [], "value": None}
        assert again.drift == nan.drift and again.window == nan.window
        assert again.alerts == nan.alerts and again.duration_ms == 7
    finally:
        store.delete_monitor("round")
