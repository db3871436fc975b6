"""The lineage of a model version as JSON: one schema for ``GET /api/v1/lineage``
and ``moorline lineage --json``, so both answer with the same document.

Times are milliseconds since the epoch; metric values that are NaN or
infinite are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorline.registry import lineage as d
from moorline.schemas.common import FloatValue, ResponseModel


class Column(ResponseModel):
    name: str
    type: str
    nullable: bool


class Dataset(ResponseModel):
    name: str
    digest: str
    context: str | None = Field(description="The input's mlflow.data.context tag (train, eval...).")
    source_type: str
    source: str
    rows: int | None = Field(description="Row count from the profile (moorline datasets only).")
    columns: list[Column] = Field(description="Schema summary (moorline datasets only).")

    @classmethod
    def from_domain(cls, x: d.DatasetRecord) -> Dataset:
        return cls(
            name=x.name,
            digest=x.digest,
            context=x.context,
            source_type=x.source_type,
            source=x.source,
            rows=x.rows,
            columns=[Column(name=c.name, type=c.type, nullable=c.nullable) for c in x.columns],
        )


class Run(ResponseModel):
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    user_id: str
    start_time: int
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, FloatValue] = Field(description="Latest value of every metric.")
    tags: dict[str, str]
    git_commit: str | None = Field(description="Tag mlflow.source.git.commit.")
    git_dirty: bool | None = Field(description="Tag moorline.source.git.dirty; null if unknown.")
    entry_point: str | None = Field(description="Tag mlflow.source.name.")
    python_env: dict[str, Any] | None = Field(description="Tag moorline.python.env, parsed.")
    reproduction_of: str | None = Field(description="The run this run reproduces, if any.")

    @classmethod
    def from_domain(cls, x: d.RunRecord) -> Run:
        return cls(
            run_id=x.run_id,
            run_name=x.run_name,
            experiment_id=x.experiment_id,
            status=x.status,
            user_id=x.user_id,
            start_time=x.start_time,
            end_time=x.end_time,
            params=dict(x.params),
            metrics=dict(x.metrics),
            tags=dict(x.tags),
            git_commit=x.git_commit,
            git_dirty=x.git_dirty,
            entry_point=x.entry_point,
            python_env=x.python_env,
            reproduction_of=x.reproduction_of,
        )


class HistoryEntry(ResponseModel):
    seq: int
    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    reason: str

    @classmethod
    def from_domain(cls, x: d.HistoryEntry) -> HistoryEntry:
        return cls(
            seq=x.seq,
            at=x.at,
            actor=x.actor,
            action=x.action,
            target=x.target,
            details=dict(x.details),
            reason=x.reason,
        )


class Alias(ResponseModel):
    alias: str
    updated_at: int
    updated_by: str

    @classmethod
    def from_domain(cls, x: d.AliasRecord) -> Alias:
        return cls(alias=x.alias, updated_at=x.updated_at, updated_by=x.updated_by)


class Version(ResponseModel):
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

    @classmethod
    def from_domain(cls, x: d.VersionRecord) -> Version:
        return cls(
            name=x.name,
            version=x.version,
            source=x.source,
            run_id=x.run_id,
            model_id=x.model_id,
            status=x.status,
            stage=x.stage,
            description=x.description,
            tags=dict(x.tags),
            created_at=x.created_at,
            created_by=x.created_by,
            updated_at=x.updated_at,
        )


class Deployment(ResponseModel):
    name: str
    traffic_percent: float
    since: int

    @classmethod
    def from_domain(cls, x: d.DeploymentRecord) -> Deployment:
        return cls(name=x.name, traffic_percent=x.traffic_percent, since=x.since)


class Lineage(ResponseModel):
    """A model version, its aliases and audit history, its training run and data."""

    uri: str = Field(description="The URI asked about.")
    version: Version
    aliases: list[Alias] = Field(description="Aliases pointing at this version now.")
    history: list[HistoryEntry] = Field(
        description="Audit entries about this version, oldest first: registration, "
        "stage moves, alias moves to and away from it, approvals."
    )
    run: Run | None = Field(description="The training run; null if none is recorded.")
    datasets: list[Dataset] = Field(description="Dataset versions the run read.")
    deployments: list[Deployment] = Field(description="Where the version serves traffic.")

    @classmethod
    def from_domain(cls, x: d.Lineage) -> Lineage:
        return cls(
            uri=x.uri,
            version=Version.from_domain(x.version),
            aliases=[Alias.from_domain(a) for a in x.aliases],
            history=[HistoryEntry.from_domain(h) for h in x.history],
            run=Run.from_domain(x.run) if x.run is not None else None,
            datasets=[Dataset.from_domain(s) for s in x.datasets],
            deployments=[Deployment.from_domain(p) for p in x.deployments],
        )
