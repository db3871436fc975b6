"""Lineage: what a model version is, how it got where it is, and what made it.

One call answers "what is ``models:/churn@champion``, who registered and
promoted it, which run trained it with which code, parameters and
environment, on which data, and where is it deployed"::

    dataset version ──input──► run ──produced──► model version ──► aliases, deployments

The links are records the other services keep (the version's run id, the
run's tags and dataset inputs, the alias table, the audit log); this service
follows them and returns one typed :class:`Lineage`. Shells render it (the
CLI as a tree, the API as JSON, both from ``moorline.schemas.lineage``).

>>> svc = LineageService(registry, tracking, audit)  # doctest: +SKIP
>>> svc.lineage("models:/churn@champion").run.git_commit  # doctest: +SKIP
'3f2a9c...'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from moorline.errors import NotFound
from moorline.registry.models import AuditEntry, ModelVersion
from moorline.registry.service import RegistryService
from moorline.tracking.datasets import PROFILE_FORMAT, ColumnSchema, parse_schema
from moorline.tracking.models import (
    TAG_DATASET_CONTEXT,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_PYTHON_ENV,
    TAG_SOURCE_NAME,
    DatasetInput,
    Run,
)
from moorline.tracking.service import TrackingService

#: Tag a reproduced run carries: the id of the run it reproduces.
TAG_REPRODUCTION_OF = "moorline.reproduction_of"
#: Audit entries fetched per call while collecting a model's history.
AUDIT_BATCH = 1000
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[A-Za-z0-9]+)(?:/.*)?$")


class AuditReader(Protocol):
    """What lineage needs from the audit log (``AuditService`` has it)."""

    def list_entries(
        self, *, target_prefix: str | None = None, after_seq: int = 0, limit: int = 1000
    ) -> list[AuditEntry]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRecord:
    """The model version: where its files are, and when and by whom it was registered."""

    name: str
    version: int
    source: str
    run_id: str | None
    model_id: str | None
    status: str
    stage: str
    description: str
    tags: dict[str, str]
    created_at: int
    created_by: str
    updated_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasRecord:
    """An alias pointing at the version, and its last move."""

    alias: str
    updated_at: int
    updated_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """An audit entry about the version: registration, stage moves, alias moves,
    approvals (also moves of an alias *away* from it)."""

    seq: int
    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """The training run, with what it takes to run it again."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    user_id: str
    start_time: int
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    git_commit: str | None
    git_dirty: bool | None
    entry_point: str | None
    python_env: dict[str, Any] | None
    reproduction_of: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRecord:
    """A dataset version the run read, with its schema summary."""

    name: str
    digest: str
    context: str | None
    source_type: str
    source: str
    rows: int | None
    columns: tuple[ColumnSchema, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentRecord:
    """Where the version serves traffic (filled in once serving exists)."""

    name: str
    traffic_percent: float
    since: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Everything known about how a model version came to be and where it is."""

    uri: str
    version: VersionRecord
    aliases: tuple[AliasRecord, ...]
    history: tuple[HistoryEntry, ...]
    run: RunRecord | None
    datasets: tuple[DatasetRecord, ...]
    deployments: tuple[DeploymentRecord, ...] = field(default=())


class LineageService:
    """Follows the stored links from a model version to its run, data and aliases."""

    def __init__(
        self, registry: RegistryService, tracking: TrackingService, audit: AuditReader
    ) -> None:
        self._registry = registry
        self._tracking = tracking
        self._audit = audit

    def lineage(self, model_uri: str) -> Lineage:
        """The lineage of the version ``model_uri`` names (``models:/name/3``,
        ``models:/name@alias``, ``models:/name/latest``)."""
        mv = self._registry.resolve(model_uri)
        history = self._history(mv)
        created_by = next(
            (e.actor for e in history if e.action == "model_version.create" and e.actor),
            mv.user_id,
        )
        aliases = tuple(
            AliasRecord(alias=a.alias, updated_at=a.updated_at, updated_by=a.updated_by)
            for a in sorted(self._registry.list_aliases(mv.name), key=lambda a: a.alias)
            if a.version == mv.version
        )
        run = training_run(mv, self._tracking)
        return Lineage(
            uri=model_uri,
            version=VersionRecord(
                name=mv.name,
                version=mv.version,
                source=mv.source,
                run_id=run.run_id if run is not None else mv.run_id,
                model_id=mv.model_id,
                status=mv.status.value,
                stage=mv.current_stage.value,
                description=mv.description,
                tags=dict(mv.tags),
                created_at=mv.creation_timestamp,
                created_by=created_by,
                updated_at=mv.last_updated_timestamp,
            ),
            aliases=aliases,
            history=history,
            run=_run_record(run) if run is not None else None,
            datasets=tuple(_dataset_record(d) for d in run.dataset_inputs) if run else (),
        )

    # -- the links -------------------------------------------------------------

    def _history(self, mv: ModelVersion) -> tuple[HistoryEntry, ...]:
        """Audit entries about this version, oldest first.

        Entries before the latest creation of the registered model are left
        out: they belong to an earlier model that had this name.
        """
        base = f"models:/{mv.name}"
        own = f"{base}/{mv.version}"
        relevant: list[AuditEntry] = []
        for entry in self._entries(base):
            if entry.target == base and entry.action == "registered_model.create":
                relevant.clear()
                continue
            if entry.target == own or (
                entry.target.startswith(base + "@") and _mentions(entry.details, mv.version)
            ):
                relevant.append(entry)
        return tuple(
            HistoryEntry(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                target=e.target,
                details=dict(e.details),
                reason=e.reason,
            )
            for e in relevant
        )

    def _entries(self, prefix: str) -> Iterator[AuditEntry]:
        after = 0
        while True:
            batch = self._audit.list_entries(
                target_prefix=prefix, after_seq=after, limit=AUDIT_BATCH
            )
            yield from batch
            if len(batch) < AUDIT_BATCH:
                return
            after = batch[-1].seq


def training_run(mv: ModelVersion, tracking: TrackingService) -> Run | None:
    """The run that produced ``mv``: its run id, else its logged model's source run,
    else the run of a ``runs:/`` source. None if none is recorded or the run is gone."""
    run_id = mv.run_id
    if not run_id and mv.model_id:
        try:
            run_id = tracking.get_logged_model(mv.model_id, allow_deleted=True).source_run_id
        except NotFound:
            run_id = None
    if not run_id:
        match = _RUNS_URI.match(mv.source)
        run_id = match.group("run_id") if match else None
    if not run_id:
        return None
    try:
        return tracking.get_run(run_id)
    except NotFound:
        return None


def _mentions(details: dict[str, Any], version: int) -> bool:
    """An alias entry concerns a version it moved to or away from."""
    return any(_as_int(details.get(key)) == version for key in ("version", "previous_version"))


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _run_record(run: Run) -> RunRecord:
    tags = dict(run.tags)
    dirty = tags.get(TAG_GIT_DIRTY)
    return RunRecord(
        run_id=run.run_id,
        run_name=run.info.run_name,
        experiment_id=run.info.experiment_id,
        status=run.info.status.value,
        user_id=run.info.user_id,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        params=dict(run.params),
        metrics={m.key: m.value for m in sorted(run.metrics, key=lambda m: m.key)},
        tags=tags,
        git_commit=tags.get(TAG_GIT_COMMIT),
        git_dirty=None if dirty is None else dirty.lower() == "true",
        entry_point=tags.get(TAG_SOURCE_NAME),
        python_env=_json_object(tags.get(TAG_PYTHON_ENV)),
        reproduction_of=tags.get(TAG_REPRODUCTION_OF),
    )


def _dataset_record(item: DatasetInput) -> DatasetRecord:
    d = item.dataset
    profile = _json_object(d.profile)
    rows = None
    if profile is not None and profile.get("format") == PROFILE_FORMAT:
        rows = _as_int(profile.get("rows"))
    return DatasetRecord(
        name=d.name,
        digest=d.digest,
        context=item.tags.get(TAG_DATASET_CONTEXT),
        source_type=d.source_type,
        source=d.source,
        rows=rows,
        columns=parse_schema(d.schema),
    )


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
