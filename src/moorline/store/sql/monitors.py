"""The monitor port over SQL: monitors, results, alert states and leases.

A monitor's configuration and each result are JSON documents (their shape
belongs to :mod:`moorline.monitoring.monitors`). Results page newest first
by ``(run_at, id)`` with a keyset token. The lease is one row per monitor,
taken with a single upsert that only overwrites an expired lease or one the
same holder already has, so two schedulers on one database cannot both hold
it: the database decides, whichever replica asks first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from moorline.core.paging import Page, decode_token, encode_token
from moorline.errors import AlreadyExists, InvalidArgument, NotFound
from moorline.monitoring.alerts import AlertState
from moorline.monitoring.monitors import Monitor, MonitorResult
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase

_m, _r, _s, _l = t.monitors, t.monitor_results, t.monitor_alert_states, t.monitor_leases


def _dumps(document: Any, *, strict: bool = True) -> str:
    return json.dumps(document, separators=(",", ":"), allow_nan=not strict, default=str)


class SqlMonitorStore(SqlStoreBase):
    """Implements :class:`moorline.monitoring.monitors.MonitorStore`."""

    # -- monitors ---------------------------------------------------------------------

    def create_monitor(self, monitor: Monitor) -> Monitor:
        with self._write() as conn:
            exists = conn.execute(select(_m.c.name).where(_m.c.name == monitor.name)).first()
            if exists is not None:
                raise AlreadyExists(f"A monitor named {monitor.name!r} already exists")
            conn.execute(_m.insert().values(**self._row(monitor)))
        return monitor

    def update_monitor(self, monitor: Monitor) -> Monitor:
        row = self._row(monitor)
        del row["created_at"]
        with self._write() as conn:
            done = conn.execute(update(_m).where(_m.c.name == monitor.name).values(**row))
            if done.rowcount == 0:
                raise NotFound(f"No monitor named {monitor.name!r}")
        return monitor

    @staticmethod
    def _row(monitor: Monitor) -> dict[str, Any]:
        return {
            "name": monitor.name,
            "model": monitor.model,
            "schedule": monitor.schedule,
            "config": _dumps(monitor.to_dict()),
            "created_at": monitor.created_at,
            "updated_at": monitor.updated_at,
        }

    def get_monitor(self, name: str) -> Monitor:
        with self._read() as conn:
            config = conn.execute(select(_m.c.config).where(_m.c.name == name)).scalar()
        if config is None:
            raise NotFound(f"No monitor named {name!r}")
        return Monitor.from_dict(json.loads(config))

    def list_monitors(self) -> list[Monitor]:
        with self._read() as conn:
            rows = conn.execute(select(_m.c.config).order_by(_m.c.name)).scalars().all()
        return [Monitor.from_dict(json.loads(row)) for row in rows]

    def delete_monitor(self, name: str) -> None:
        with self._write() as conn:
            # Children first: SQLite enforces the cascade only with foreign keys on.
            conn.execute(delete(_r).where(_r.c.monitor == name))
            conn.execute(delete(_s).where(_s.c.monitor == name))
            done = conn.execute(delete(_m).where(_m.c.name == name))
            if done.rowcount == 0:
                raise NotFound(f"No monitor named {name!r}")

    # -- results ----------------------------------------------------------------------

    def append_result(self, result: MonitorResult) -> MonitorResult:
        from dataclasses import replace

        document = result.to_dict()
        document.pop("id", None)
        with self._write() as conn:
            new_id = conn.execute(
                _r.insert()
                .values(
                    monitor=result.monitor,
                    run_at=result.run_at,
                    status=result.status.value,
                    document=_dumps(document),
                )
                .returning(_r.c.id)
            ).scalar_one()
        return replace(result, id=int(new_id))

    def list_results(
        self, name: str, *, max_results: int, page_token: str | None = None
    ) -> Page[MonitorResult]:
        query = select(_r.c.id, _r.c.document).where(_r.c.monitor == name)
        if page_token:
            cursor = decode_token(page_token)
            try:
                run_at, last_id = int(cursor["run_at"]), int(cursor["id"])
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument(f"Invalid page token {page_token!r}") from None
            query = query.where(
                or_(_r.c.run_at < run_at, and_(_r.c.run_at == run_at, _r.c.id < last_id))
            )
        query = query.order_by(_r.c.run_at.desc(), _r.c.id.desc()).limit(max_results + 1)
        with self._read() as conn:
            rows = conn.execute(query).all()
        items = [
            MonitorResult.from_dict({**json.loads(row.document), "id": row.id})
            for row in rows[:max_results]
        ]
        token = None
        if len(rows) > max_results:
            last = items[-1]
            token = encode_token({"run_at": last.run_at, "id": last.id})
        return Page(items=tuple(items), next_page_token=token)

    def get_result(self, result_id: int) -> MonitorResult:
        """Result ``result_id`` of whichever monitor ran it; NotFound when there is none."""
        valid = isinstance(result_id, int) and not isinstance(result_id, bool)
        if not valid or not 0 < result_id < 2**63:
            raise InvalidArgument(f"Invalid result id {result_id!r}: expected a positive integer")
        with self._read() as conn:
            row = conn.execute(select(_r.c.document).where(_r.c.id == result_id)).first()
        if row is None:
            raise NotFound(f"No monitor result with id {result_id}")
        return MonitorResult.from_dict({**json.loads(row.document), "id": result_id})

    def last_run_at(self, name: str) -> int | None:
        with self._read() as conn:
            value = conn.execute(select(func.max(_r.c.run_at)).where(_r.c.monitor == name)).scalar()
        return None if value is None else int(value)

    # -- alert states -----------------------------------------------------------------

    def get_alert_states(self, name: str) -> dict[str, AlertState]:
        with self._read() as conn:
            rows = conn.execute(select(_s.c.key, _s.c.state).where(_s.c.monitor == name)).all()
        return {row.key: AlertState.from_dict(json.loads(row.state)) for row in rows}

    def put_alert_states(self, name: str, states: Mapping[str, AlertState]) -> None:
        if not states:
            return
        stmt = self._upsert(_s, ["monitor", "key"], ["state"])
        with self._write() as conn:
            conn.execute(
                stmt,
                [
                    {"monitor": name, "key": key, "state": _dumps(state.to_dict(), strict=False)}
                    for key, state in states.items()
                ],
            )

    # -- leases -----------------------------------------------------------------------

    def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float, now: int) -> bool:
        """Take (or renew) the lease on ``name`` until ``now + ttl``; False when
        another holder's lease has not expired."""
        expires = now + round(ttl_seconds * 1000)
        stmt = self._insert(_l).values(name=name, holder=holder, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=or_(_l.c.expires_at <= now, _l.c.holder == holder),
        )
        with self._write() as conn:
            conn.execute(stmt)
            owner = conn.execute(select(_l.c.holder).where(_l.c.name == name)).scalar()
        return bool(owner == holder)

    def release_lease(self, name: str, holder: str) -> None:
        with self._write() as conn:
            conn.execute(delete(_l).where(_l.c.name == name, _l.c.holder == holder))
