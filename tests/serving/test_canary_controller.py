"""The canary controller end to end on a real SQLite store.

Real scikit-learn models are logged and registered through the SDK; every
request is routed by the deployment's own router, answered by the
registered model loaded back from the store, and logged through the real
prediction store, with feedback labels through the deployment service. The
controller then judges the canary from that log and changes the deployment
and the registry alias through the real services (audited, governed).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import moorline
from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.errors import Conflict, InvalidArgument, NotFound
from moorline.models.loaded import LoadedModel
from moorline.pipelines.models import Evaluation, GlobSource, Pipeline
from moorline.registry.governance import Actor
from moorline.sdk._session import SESSION
from moorline.serving.canaries import CanaryStatus
from moorline.serving.canary import CanaryPolicy, RuleStatus, Verdict
from moorline.serving.models import PolicyKind, PredictionRecord, RevisionAction, TrafficPolicy
from moorline.serving.rollout import (
    LEASE_PREFIX,
    ROLLOUT_ACTOR,
    CanaryAction,
    CanaryController,
    CanaryLoop,
    CanaryOutcome,
    PipelineRollout,
)
from moorline.serving.routing import Router
from tests.serving.serving_support import deploy, log_versions, make_store, start_serve

MODEL = DEPLOYMENT = "demand"
COLUMNS = ["temperature", "hour", "weekday"]


def sample(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Demand = 3 temperature - 2 hour + weekday + noise."""
    x = pd.DataFrame(rng.normal(size=(n, 3)), columns=COLUMNS)
    y = 3 * x["temperature"] - 2 * x["hour"] + x["weekday"] + rng.normal(0, 0.3, n)
    return x, y.to_numpy()


@dataclass
class World:
    services: Services
    models: dict[int, LoadedModel]
    rng: np.random.Generator
    champion: int = 1
    good: int = 2
    shuffled: int = 3


@contextlib.contextmanager
def open_world(store_uri: str, artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Three registered versions: v1 the champion, v2 retrained on fresh data
    (as good), v3 trained on shuffled labels (useless); a deployment serving v1."""
    monkeypatch.setenv("MOORLINE_TRACKING_URI", store_uri)
    monkeypatch.setenv("MOORLINE_ARTIFACTS_URI", str(artifacts))
    monkeypatch.setenv("MOORLINE_USER", "ana")
    moorline.set_tracking_uri(None)
    moorline.set_experiment(f"canary-{uuid.uuid4().hex[:8]}")
    rng = np.random.default_rng(7)
    x1, y1 = sample(rng, 400)
    x2, y2 = sample(rng, 400)
    fits = [
        LinearRegression().fit(x1, y1),
        LinearRegression().fit(x2, y2),
        LinearRegression().fit(x2, rng.permutation(y2)),
    ]
    try:
        with moorline.start_run():
            for i, model in enumerate(fits):
                info = moorline.log_model(
                    model, f"m{i}", registered_model_name=MODEL, input_example=x1.iloc[:3]
                )
                assert info.registered_model_version == i + 1
        services = SESSION.services()
        services.registry.set_alias(MODEL, "champion", 1, actor="ana")
        services.deployments.create(
            DEPLOYMENT, model=MODEL, policy=TrafficPolicy.single(1), actor="ana"
        )
        models = {v: moorline.load_model(f"models:/{MODEL}/{v}") for v in (1, 2, 3)}
        yield World(services=services, models=models, rng=rng)
    finally:
        while moorline.active_run() is not None:
            moorline.end_run()
        moorline.set_tracking_uri(None)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(
        f"sqlite:///{tmp_path / 'moorline.db'}", tmp_path / "artifacts", monkeypatch
    ) as built:
        yield built


def serve(world: World, requests: int, *, labelled: float = 1.0) -> dict[int, int]:
    """``requests`` one-row requests routed by the deployment's current policy,
    answered by the registered models, logged, then labelled (a share of them).
    Returns requests per version."""
    services = world.services
    deployment = services.deployments.get(DEPLOYMENT)
    router = Router(DEPLOYMENT, deployment.policy)
    x, y = sample(world.rng, requests)
    records, feedback = [], []
    counts: dict[int, int] = {}
    for i in range(requests):
        version = router.pick(float(world.rng.random()))
        row = x.iloc[[i]]
        began = time.perf_counter()
        answer = world.models[version].predict(row)
        latency = (time.perf_counter() - began) * 1000
        pid = uuid.uuid4().hex
        records.append(
            PredictionRecord(
                prediction_id=pid,
                deployment=DEPLOYMENT,
                model=MODEL,
                version=version,
                at=int(time.time() * 1000),
                inputs=row.to_numpy().tolist(),
                outputs=[float(np.asarray(answer).ravel()[0])],
                latency_ms=latency,
                columns=tuple(COLUMNS),
            )
        )
        if world.rng.random() < labelled:
            feedback.append({"prediction_id": pid, "label": float(y[i])})
        counts[version] = counts.get(version, 0) + 1
    services.deployments.predictions.append_predictions(records)
    if feedback:
        assert services.deployments.add_feedback(DEPLOYMENT, feedback) == len(feedback)
    return counts


POLICY = CanaryPolicy(
    min_requests=40, metric="mae", max_metric_regression=0.2, min_labelled=30, max_duration_s=600
)


def controller(world: World) -> CanaryController:
    return CanaryController(
        world.services.deployments,
        store=world.services.canaries.store,
        registry=world.services.registry,
    )


def serve_until_decided(
    world: World, ctl: CanaryController, *, per_round: int = 300, rounds: int = 8
) -> list[CanaryOutcome]:
    """Traffic in rounds, the canary judged after each, until it is not waiting:
    how a canary runs (a metric is noisy on few rows, so the analysis may ask
    for more before deciding)."""
    outcomes = []
    for _ in range(rounds):
        serve(world, per_round)
        outcomes.append(ctl.evaluate(DEPLOYMENT))
        if outcomes[-1].action is not CanaryAction.WAITING:
            break
    return outcomes


def test_a_challenger_trained_on_shuffled_labels_is_rolled_back_automatically(
    world: World,
) -> None:
    ctl = controller(world)
    spec = ctl.start_canary(DEPLOYMENT, world.shuffled, 30, POLICY)
    assert (spec.champion, spec.challenger, spec.weight) == (1, 3, 30.0)
    deployment = world.services.deployments.get(DEPLOYMENT)
    assert deployment.policy == TrafficPolicy.canary(champion=1, challenger=3, weight=30)
    assert deployment.updated_by == ROLLOUT_ACTOR

    counts = serve(world, 400)
    assert counts[3] >= 80 and counts[1] >= 200  # the router split the traffic
    outcome = ctl.evaluate(DEPLOYMENT)

    assert outcome.action is CanaryAction.ROLLED_BACK
    assert outcome.analysis.verdict is Verdict.ROLLBACK
    perf = outcome.analysis.rule("performance")
    assert perf.status is RuleStatus.FAIL and perf.details["source"] == "realized"
    # the useless model's MAE is several times the champion's
    assert perf.details["challenger"] > 3 * perf.details["champion"]
    after = world.services.deployments.get(DEPLOYMENT)
    assert after.policy == TrafficPolicy.single(1)
    newest = world.services.deployments.history(DEPLOYMENT, limit=1)[0]
    assert newest.action is RevisionAction.ROLLBACK and newest.actor == ROLLOUT_ACTOR
    assert "performance" in newest.reason and "realized mae" in newest.reason
    assert newest.restored_revision == spec.revision - 1
    audit = world.services.audit.list_entries(actor=ROLLOUT_ACTOR)
    assert [e.action for e in audit] == ["deployment.traffic", "deployment.rollback"]
    # the canary's row says how it ended, and the audit entry that started it names it
    record = ctl.latest(DEPLOYMENT)
    assert record is not None and record.status is CanaryStatus.ROLLED_BACK
    assert record.id in audit[0].reason and record.ended_revision == newest.revision
    assert record.last_verdict is not None and record.last_verdict["verdict"] == "rollback"
    # the alias stayed on the champion and the canary is over
    assert world.services.registry.get_version_by_alias(MODEL, "champion").version == 1
    assert ctl.active(DEPLOYMENT) is None
    with pytest.raises(NotFound, match="runs no canary"):
        ctl.evaluate(DEPLOYMENT)


def test_a_good_challenger_is_promoted_and_becomes_the_champion(world: World) -> None:
    ctl = controller(world)
    ctl.start_canary(DEPLOYMENT, world.good, 50, POLICY, reason="retrained on May")
    *waiting, outcome = serve_until_decided(world, ctl)
    # until the labels show it clearly, the analysis asks for more of them
    assert all(o.analysis.rule("performance").status is RuleStatus.WAIT for o in waiting)
    assert outcome.action is CanaryAction.PROMOTED, "\n".join(outcome.analysis.reasons)
    assert all(r.status is RuleStatus.PASS for r in outcome.analysis.rules)
    after = world.services.deployments.get(DEPLOYMENT)
    assert after.policy == TrafficPolicy.single(2)
    assert world.services.registry.get_version_by_alias(MODEL, "champion").version == 2
    moves = world.services.audit.list_entries(actor=ROLLOUT_ACTOR, action="alias.set")
    assert len(moves) == 1 and "promoted by canary analysis" in moves[0].reason
    newest = world.services.deployments.history(DEPLOYMENT, limit=2)
    assert newest[0].action is RevisionAction.TRAFFIC and newest[0].reason.startswith("promoted")
    assert "retrained on May" in newest[1].reason


def test_too_few_requests_waits_and_changes_nothing(world: World) -> None:
    ctl = controller(world)
    spec = ctl.start_canary(DEPLOYMENT, world.good, 10, POLICY)
    serve(world, 60)
    outcome = ctl.evaluate(DEPLOYMENT)
    assert outcome.action is CanaryAction.WAITING
    assert outcome.analysis.rule("traffic").status is RuleStatus.WAIT
    assert "too few requests" in outcome.reason
    assert world.services.deployments.get(DEPLOYMENT).revision == spec.revision
    # past the deadline the same too-thin canary is rolled back
    late = ctl.evaluate(DEPLOYMENT, now=spec.deadline_at + 1)
    assert late.action is CanaryAction.ROLLED_BACK
    assert late.analysis.decided_by == "deadline"
    assert world.services.deployments.get(DEPLOYMENT).policy == TrafficPolicy.single(1)


def test_a_refused_alias_move_keeps_the_canary_running(world: World) -> None:
    admin = Actor(name="root", role=Role.ADMIN)
    world.services.governance.set_policy(MODEL, actor=admin, risk="high", reason="pricing")
    ctl = controller(world)
    spec = ctl.start_canary(DEPLOYMENT, world.good, 50, POLICY)
    outcome = serve_until_decided(world, ctl)[-1]

    assert outcome.analysis.verdict is Verdict.PROMOTE
    assert outcome.action is CanaryAction.PROMOTION_REFUSED
    assert "refused" in outcome.reason and "keeps running" in outcome.reason
    assert world.services.deployments.get(DEPLOYMENT).revision == spec.revision
    assert world.services.registry.get_version_by_alias(MODEL, "champion").version == 1
    refused = world.services.audit.list_entries(action="alias.set.refused")
    assert len(refused) == 1 and refused[0].actor == ROLLOUT_ACTOR
    assert ctl.active(DEPLOYMENT) == spec
    # the next ticks do not ask governance again (each refusal is audited)...
    again = ctl.evaluate(DEPLOYMENT)
    assert again.action is CanaryAction.PROMOTION_REFUSED and again.reason == outcome.reason
    assert len(world.services.audit.list_entries(action="alias.set.refused")) == 1
    # ...until the retry interval has passed
    later = ctl.evaluate(DEPLOYMENT, now=outcome.analysis.at + 601_000)
    assert later.action is CanaryAction.PROMOTION_REFUSED
    assert len(world.services.audit.list_entries(action="alias.set.refused")) == 2
    assert world.services.deployments.get(DEPLOYMENT).revision == spec.revision


def test_the_canary_survives_a_restart_and_a_hand_made_canary_is_left_alone(
    world: World, tmp_path: Path
) -> None:
    policy = CanaryPolicy(min_requests=7, metric="rmse", on_drift="note", alias=None)
    spec = controller(world).start_canary(DEPLOYMENT, world.good, 12.5, policy)
    # another process (a restarted server, another replica) reads the same database
    settings = Settings(
        store_uri=f"sqlite:///{tmp_path / 'moorline.db'}", artifacts_uri=str(tmp_path / "artifacts")
    )
    other = build_services(settings, migrate=False)
    try:
        again = CanaryController(other.deployments, store=other.canaries.store)
        assert again.active(DEPLOYMENT) == spec
        assert again.active(DEPLOYMENT).policy == policy  # type: ignore[union-attr]
        assert [s.deployment for s in again.list_active()] == [DEPLOYMENT]
        # a settings change keeps the canary managed
        other.deployments.update_settings(
            DEPLOYMENT,
            other.deployments.get(DEPLOYMENT).settings.__class__(log_sample=0.5),
            actor="ana",
        )
        assert again.active(DEPLOYMENT) == spec
        # a split changed by hand is not the controller's any more
        other.deployments.set_traffic(
            DEPLOYMENT, TrafficPolicy.canary(champion=1, challenger=2, weight=50), actor="ana"
        )
        assert again.active(DEPLOYMENT) is None
        assert again.list_active() == []
    finally:
        other.close()


def test_start_canary_refuses_what_it_cannot_do(world: World) -> None:
    ctl = controller(world)
    with pytest.raises(InvalidArgument, match="already the champion"):
        ctl.start_canary(DEPLOYMENT, 1, 10)
    with pytest.raises(InvalidArgument, match="percentage"):
        ctl.start_canary(DEPLOYMENT, 2, 100)
    with pytest.raises(NotFound):
        ctl.start_canary(DEPLOYMENT, 9, 10)
    ctl.start_canary(DEPLOYMENT, 2, 10)
    with pytest.raises(Conflict, match="serves canary"):
        ctl.start_canary(DEPLOYMENT, 3, 10)
    assert ctl.abort(DEPLOYMENT, reason="wrong data window").policy == TrafficPolicy.single(1)
    assert world.services.deployments.history(DEPLOYMENT, limit=1)[0].action is (
        RevisionAction.ROLLBACK
    )


def test_the_loop_rolls_back_by_itself_and_respects_another_replicas_lease(
    world: World,
) -> None:
    leases = world.services.monitors.store
    ctl = controller(world)
    ctl.start_canary(DEPLOYMENT, world.shuffled, 30, POLICY)
    serve(world, 400)
    # another replica holds this canary's lease: this one must leave it alone
    assert leases.try_acquire_lease(
        LEASE_PREFIX + DEPLOYMENT, "replica-b", 60, int(time.time() * 1000)
    )
    loop = CanaryLoop(ctl, interval=0.2, leases=leases, holder="replica-a")
    assert loop.tick() == []
    assert world.services.deployments.get(DEPLOYMENT).policy.kind is PolicyKind.CANARY
    leases.release_lease(LEASE_PREFIX + DEPLOYMENT, "replica-b")
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if world.services.deployments.get(DEPLOYMENT).policy == TrafficPolicy.single(1):
                break
            time.sleep(0.1)
    finally:
        loop.close()
    assert world.services.deployments.get(DEPLOYMENT).policy == TrafficPolicy.single(1)
    # the loop released its lease: another replica can take it at once
    assert leases.try_acquire_lease(
        LEASE_PREFIX + DEPLOYMENT, "replica-b", 60, int(time.time() * 1000)
    )


def test_a_remediations_canary_writes_its_steps_to_the_remediation_record(
    world: World, tmp_path: Path
) -> None:
    """The closed loop's port: the pipelines service hands an accepted challenger
    to the rollout, which judges it on the pipeline's own metric and writes each
    step to the remediation record."""
    pipelines = world.services.pipelines
    pipelines.register(
        Pipeline(
            name="demand-retrain",
            entry_point="jobs:fit",
            model=MODEL,
            data=GlobSource(pattern="train.csv"),
            evaluation=Evaluation(metric="mae", label="y", holdout=GlobSource(pattern="hold.csv")),
            workdir=str(tmp_path),
        )
    )
    run = pipelines.trigger("demand-retrain", actor=Actor(name="ana", role=Role.ADMIN))
    ctl = CanaryController(
        world.services.deployments,
        store=world.services.canaries.store,
        registry=world.services.registry,
        remediations=pipelines,
    )
    rollout = PipelineRollout(
        ctl,
        pipelines=pipelines,
        policy=CanaryPolicy(min_requests=40, min_labelled=30, max_metric_regression=0.2),
    )
    with pytest.raises(Conflict, match="serves v2 alone"):
        rollout.start_canary(MODEL, 2, 3, 30, remediation_id=run.remediation_id)

    done = rollout.start_canary(MODEL, 1, 3, 30, remediation_id=run.remediation_id)
    assert done["deployment"] == DEPLOYMENT and done["challenger"] == 3
    assert done["policy"]["metric"] == "mae"  # the pipeline's evaluation metric
    serve(world, 60)
    assert ctl.evaluate(DEPLOYMENT).action is CanaryAction.WAITING
    assert ctl.evaluate(DEPLOYMENT).action is CanaryAction.WAITING  # recorded once
    serve(world, 400)
    assert ctl.evaluate(DEPLOYMENT).action is CanaryAction.ROLLED_BACK

    record = pipelines.get_remediation(run.remediation_id)
    assert record.status.value == "rolled_back"
    steps = [
        (s.step, s.status.value) for s in record.steps if s.step.startswith(("canary", "roll"))
    ]
    assert steps == [
        ("canary_analysis", "pending"),
        ("canary_analysis", "ok"),
        ("rollback", "ok"),
    ]
    rollback = record.steps[-1]
    assert "v1 takes all traffic again" in rollback.reason and "realized mae" in rollback.reason
    assert rollback.details["deployment"] == DEPLOYMENT
    assert rollback.details["verdict"] == "rollback"
    assert rollback.at >= record.steps[-2].at


@pytest.mark.slow
def test_through_a_live_model_server_a_regressing_canary_is_rolled_back_with_no_failed_request(
    tmp_path: Path,
) -> None:
    """``moorline serve`` answers every request and takes the feedback; the
    canary loop beside it (with its database lease) judges the log and rolls
    back; the server follows the rollback without failing a request."""
    store = make_store(tmp_path / "store")
    rng = np.random.default_rng(11)
    x, y = sample(rng, 400)
    features = x.to_numpy()
    log_versions(
        store,
        [
            (MODEL, LinearRegression().fit(features, y), features[:3]),
            (MODEL, LinearRegression().fit(features, rng.permutation(y)), features[:3]),
        ],
    )
    services = store.services()
    deploy(services, DEPLOYMENT, MODEL, TrafficPolicy.single(1))
    served = start_serve(store, DEPLOYMENT)
    answers: list[tuple[float, int, int | None]] = []  # (sent at, status, version)
    rolled_back_at = None
    try:
        ctl = CanaryController(
            services.deployments, store=services.canaries.store, registry=services.registry
        )
        ctl.start_canary(DEPLOYMENT, 2, 30, POLICY)
        loop = CanaryLoop(ctl, interval=0.5, leases=services.monitors.store)
        loop.start()
        try:
            with httpx.Client(base_url=served.url, timeout=30) as client:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    batch, truth = sample(rng, 20)
                    feedback = []
                    for i in range(len(batch)):
                        sent = time.monotonic()
                        r = client.post(
                            f"/v1/deployments/{DEPLOYMENT}/predict",
                            json={"inputs": [batch.iloc[i].tolist()]},
                        )
                        body = r.json()
                        answers.append((sent, r.status_code, body.get("model_version")))
                        if r.status_code == 200:
                            feedback.append(
                                {"prediction_id": body["prediction_id"], "label": float(truth[i])}
                            )
                    sent = client.post(f"/v1/deployments/{DEPLOYMENT}/feedback", json=feedback)
                    assert sent.status_code == 200, sent.text
                    policy = services.deployments.get(DEPLOYMENT).policy
                    if rolled_back_at is None and policy == TrafficPolicy.single(1):
                        rolled_back_at = time.monotonic()
                    if rolled_back_at is not None and time.monotonic() > rolled_back_at + 3:
                        break
        finally:
            loop.close()
    finally:
        served.stop()
        services.close()
    assert rolled_back_at is not None, "the canary was never rolled back"
    assert [a for a in answers if a[1] != 200] == []  # zero failed requests
    assert {v for t, _, v in answers if t < rolled_back_at} == {1, 2}
    # the server polls the deployment's revision every 0.5 s
    after = [v for t, _, v in answers if t > rolled_back_at + 2]
    assert after and set(after) == {1}
    again = store.services()
    try:
        newest = again.deployments.history(DEPLOYMENT, limit=1)[0]
        assert newest.action is RevisionAction.ROLLBACK and newest.actor == ROLLOUT_ACTOR
        assert "realized mae" in newest.reason
    finally:
        again.close()


POSTGRES_ADMIN_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The same world over a new PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"moorline_canary_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            uri = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            with open_world(uri, tmp_path / "artifacts", monkeypatch) as built:
                yield built
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_two_replicas_on_postgres_roll_a_canary_back_exactly_once(pg_world: World) -> None:
    """Two replicas (each its own services, controller and lease holder) tick at
    the same moments, round after round: the canary is rolled back once."""
    controller(pg_world).start_canary(DEPLOYMENT, pg_world.shuffled, 30, POLICY)
    serve(pg_world, 400)
    settings = pg_world.services.settings
    replicas = [build_services(settings, migrate=False) for _ in range(2)]
    try:
        loops = [
            CanaryLoop(
                CanaryController(r.deployments, store=r.canaries.store, registry=r.registry),
                leases=r.monitors.store,
                holder=f"replica-{i}",
            )
            for i, r in enumerate(replicas)
        ]
        outcomes: list[CanaryOutcome] = []
        for _ in range(3):
            barrier = threading.Barrier(len(loops))

            def tick(loop: CanaryLoop, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                outcomes.extend(loop.tick())

            threads = [threading.Thread(target=tick, args=(loop,)) for loop in loops]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        acted = [o for o in outcomes if o.action is not CanaryAction.WAITING]
        assert [o.action for o in acted] == [CanaryAction.ROLLED_BACK]
        history = pg_world.services.deployments.history(DEPLOYMENT)
        rollbacks = [r for r in history if r.action is RevisionAction.ROLLBACK]
        assert len(rollbacks) == 1 and rollbacks[0].actor == ROLLOUT_ACTOR
        assert pg_world.services.deployments.get(DEPLOYMENT).policy == TrafficPolicy.single(1)
    finally:
        for r in replicas:
            r.close()
