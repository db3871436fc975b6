"""The dataset port over SQL: versions are the rows of ``datasets``.

Rows are written by the run store's ``log_inputs`` (unique by name and
digest); this store only reads them, with the runs that used each one.
"Newest" is the insertion order (``dataset_id``), so the latest version of a
name is the one first recorded most recently.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from moorline.core.paging import Page, encode_token, offset_from_token
from moorline.errors import NotFound
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase
from moorline.tracking.models import Dataset, DatasetSummary, DatasetVersion
from moorline.tracking.ports import DatasetStore

_ds, _di, _runs = t.datasets, t.dataset_inputs, t.runs


def _versions() -> Select[Any]:
    """Each dataset row with how many runs read it and when the first of them started."""
    return (
        select(
            _ds.c.dataset_id,
            _ds.c.name,
            _ds.c.digest,
            _ds.c.source_type,
            _ds.c.source,
            _ds.c.schema,
            _ds.c.profile,
            func.count(_di.c.input_id).label("run_count"),
            func.min(_runs.c.start_time).label("first_used_at"),
        )
        .select_from(
            _ds.outerjoin(_di, _di.c.dataset_id == _ds.c.dataset_id).outerjoin(
                _runs, _runs.c.run_uuid == _di.c.run_uuid
            )
        )
        .group_by(
            _ds.c.dataset_id,
            _ds.c.name,
            _ds.c.digest,
            _ds.c.source_type,
            _ds.c.source,
            _ds.c.schema,
            _ds.c.profile,
        )
    )


def _version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        dataset=Dataset(
            name=row.name,
            digest=row.digest,
            source_type=row.source_type,
            source=row.source,
            schema=row.schema,
            profile=row.profile,
        ),
        run_count=int(row.run_count),
        first_used_at=None if row.first_used_at is None else int(row.first_used_at),
    )


class SqlDatasetStore(SqlStoreBase, DatasetStore):
    """Dataset versions in SQLite or PostgreSQL (the tables of the tracking schema)."""

    def list_datasets(self, *, max_results: int, page_token: str | None) -> Page[DatasetSummary]:
        offset = offset_from_token(page_token)
        latest = (
            select(
                _ds.c.name, func.max(_ds.c.dataset_id).label("latest_id"), func.count().label("n")
            )
            .group_by(_ds.c.name)
            .subquery()
        )
        statement = (
            select(latest.c.name, latest.c.n, _ds.c.digest)
            .join(_ds, _ds.c.dataset_id == latest.c.latest_id)
            .order_by(latest.c.name)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        items = tuple(
            DatasetSummary(name=r.name, versions=int(r.n), latest_digest=r.digest)
            for r in rows[:max_results]
        )
        more = len(rows) > max_results
        return Page(
            items=items,
            next_page_token=encode_token({"offset": offset + max_results}) if more else None,
        )

    def list_dataset_versions(
        self, name: str, *, max_results: int, page_token: str | None
    ) -> Page[DatasetVersion]:
        offset = offset_from_token(page_token)
        statement = (
            _versions()
            .where(_ds.c.name == name)
            .order_by(_ds.c.dataset_id.desc())
            .offset(offset)
            .limit(max_results + 1)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()
        more = len(rows) > max_results
        return Page(
            items=tuple(_version(r) for r in rows[:max_results]),
            next_page_token=encode_token({"offset": offset + max_results}) if more else None,
        )

    def get_dataset_version(self, name: str, digest: str) -> DatasetVersion:
        statement = _versions().where(_ds.c.name == name, _ds.c.digest == digest)
        with self._read() as conn:
            row = conn.execute(statement).first()
        if row is None:
            raise NotFound(f"No version {digest} of dataset {name!r}")
        return _version(row)
