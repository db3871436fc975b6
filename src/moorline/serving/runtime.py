"""A serving replica's state: the loaded versions, the routing table, and how it
follows the registry.

:class:`ServingRuntime` loads every version the served deployments' policies
name (through the ``loader`` it is given: ``(model, version) -> LoadedModel``),
warms each up with one predict, then publishes a routing table: one
immutable :class:`DeploymentState` per deployment. A request reads the table
once and keeps the objects it found, so a change never reaches a request
half-way.

A watcher polls :meth:`DeploymentService.revisions` (every 0.5 s by
default). On a new revision it loads the versions it does not have yet,
off the event loop, warms them, and only then swaps the table; versions no
longer named by any policy are released once in-flight requests are done
with them. So a traffic change or a rollback takes effect within about one
poll interval, with no failed request.

Per request (:meth:`ServingRuntime.predict`): the policy's router picks the
version (canary: a random draw; A/B: the request key, else the consumer,
else a draw), the payload is checked against that version's signature, the
version's :class:`~moorline.serving.batching.MicroBatcher` answers, and a
:class:`~moorline.serving.models.PredictionRecord` goes to the prediction
logger (sampled by the deployment's ``log_sample``). Shadow versions get a
copy after the answer is known: fire-and-forget, bounded, logged with
``shadow=True`` and the same prediction id. Every predict call, a shadow
copy's included, is counted by the usage meter (requests, rows and the
predict thread's CPU time, per deployment, version and hour:
:mod:`moorline.serving.usage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from moorline.core.clock import now_ms
from moorline.errors import (
    MoorlineError,
    NotFound,
    PermissionDenied,
    StorageError,
    TemporarilyUnavailable,
    Unauthenticated,
    UserCodeError,
)
from moorline.serving.batching import MicroBatcher
from moorline.serving.models import Consumer, Deployment, PredictionRecord
from moorline.serving.protocols import (
    InputSpec,
    ModelInput,
    Payload,
    input_rows,
    per_row,
    to_model_input,
)
from moorline.serving.routing import Router

if TYPE_CHECKING:
    from moorline.models.loaded import LoadedModel
    from moorline.serving.prediction_log import PredictionLogger
    from moorline.serving.service import DeploymentService
    from moorline.serving.usage import UsageMeter

log = logging.getLogger("moorline.serving")

#: ``(registered model name, version) -> LoadedModel``; called off the event loop.
ModelLoader = Callable[[str, int], "LoadedModel"]

DEFAULT_POLL_INTERVAL_S: Final = 0.5
#: After a failed load, wait this long before trying that revision again.
RETRY_AFTER_S: Final = 10.0
#: Shadow copies in flight at once; more are dropped (and counted), never queued.
MAX_SHADOWS_IN_FLIGHT: Final = 256
#: How long a consumer key's check is remembered (and a refused key's refusal).
CONSUMER_TTL_S: Final = 5.0
REFUSED_TTL_S: Final = 1.0


class RuntimeObserver(Protocol):
    """What the runtime reports for metrics (the shell turns it into Prometheus)."""

    def batch(
        self, deployment: str, version: int, *, rows: int, queue_wait_s: float, predict_s: float
    ) -> None: ...

    def model_error(self, deployment: str, version: int, *, shadow: bool) -> None: ...

    def shadow(self, deployment: str, version: int, outcome: str) -> None: ...


class ModelFailed(UserCodeError):
    """The model raised while answering; ``error_id`` is in the log with the traceback."""

    def __init__(
        self, message: str, *, error_id: str, version: int, user_traceback: str = ""
    ) -> None:
        super().__init__(message, user_traceback=user_traceback)
        self.error_id = error_id
        #: the model version that raised
        self.version = version


class NotReady(TemporarilyUnavailable):
    """The replica is still loading its models."""


# -- loaded versions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedVersion:
    """One model version, loaded and warmed: shared by every deployment serving it."""

    model: str
    version: int
    loaded: LoadedModel
    spec: InputSpec
    load_ms: float

    def predict(self, data: ModelInput) -> Any:
        """Runs in the predict thread: name the columns if the model wants them."""
        return self.loaded.predict(self.spec.prepare(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A version as one deployment serves it: the shared model and this
    deployment's batcher (its own bounds)."""

    version: LoadedVersion
    batcher: MicroBatcher


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentState:
    """One revision of a deployment, ready to answer."""

    deployment: Deployment
    router: Router
    slots: Mapping[int, Slot]
    shadows: tuple[Slot, ...]

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def revision(self) -> int:
        return self.deployment.revision


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What a request gets back."""

    deployment: str
    model: str
    version: int
    prediction_id: str
    output: Any
    rows: int
    latency_ms: float


@dataclass(slots=True)
class _Failure:
    revision: int
    at: float
    message: str


# -- consumers ------------------------------------------------------------------------


class ConsumerCache:
    """Consumer keys checked against the store at most every few seconds per key.

    A key seen for the first time costs one store call (off the event loop;
    concurrent requests with the same new key share it); afterwards the answer
    is remembered for ``ttl_s`` (a refusal for ``refused_ttl_s``), so the hot
    path makes no database call and a revoked key stops working within ``ttl_s``.
    """

    def __init__(
        self,
        authenticate: Callable[[str], Consumer],
        *,
        ttl_s: float = CONSUMER_TTL_S,
        refused_ttl_s: float = REFUSED_TTL_S,
        max_entries: int = 10_000,
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_s
        self._refused_ttl = refused_ttl_s
        self._max = max_entries
        self._known: dict[str, tuple[float, Consumer | MoorlineError]] = {}
        self._pending: dict[str, asyncio.Future[Consumer | MoorlineError]] = {}

    async def get(self, key: str) -> Consumer:
        """The consumer of ``key``; Unauthenticated if unknown, revoked or malformed."""
        hit = self._known.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return _consumer_or_raise(hit[1])
        pending = self._pending.get(key)
        if pending is not None:
            return _consumer_or_raise(await asyncio.shield(pending))
        pending = asyncio.get_running_loop().create_future()
        self._pending[key] = pending
        result: Consumer | MoorlineError
        try:
            result = await asyncio.to_thread(self._authenticate, key)
        except Unauthenticated as exc:
            result = exc
        except MoorlineError as exc:  # the store failed: share it, remember nothing
            result = exc
        except Exception as exc:
            result = StorageError(f"Cannot check the consumer key: {exc}")
        finally:
            self._pending.pop(key, None)
        if isinstance(result, Consumer | Unauthenticated):
            ttl = self._ttl if isinstance(result, Consumer) else self._refused_ttl
            if len(self._known) >= self._max:
                self._known.clear()
            self._known[key] = (time.monotonic() + ttl, result)
        pending.set_result(result)
        return _consumer_or_raise(result)


def _consumer_or_raise(value: Consumer | MoorlineError) -> Consumer:
    if isinstance(value, MoorlineError):
        raise type(value)(value.message)
    return value


# -- the runtime ----------------------------------------------------------------------


class ServingRuntime:
    """The deployments one replica serves.

    ``names``: the deployments to serve (None: every deployment in the store,
    including ones created later). ``executor``: where predicts run (default:
    one thread, so predicts never compete with each other for the CPU).
    ``logger``: the prediction log (None: nothing is logged). ``usage``: the
    meter told about every predict call (None: usage is not counted); the
    runtime only feeds it, its owner starts and closes it.
    """

    def __init__(
        self,
        service: DeploymentService,
        loader: ModelLoader,
        *,
        names: Sequence[str] | None = None,
        logger: PredictionLogger | None = None,
        usage: UsageMeter | None = None,
        executor: Executor | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        observer: RuntimeObserver | None = None,
        require_consumer: bool = False,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._service = service
        self._loader = loader
        self._names = None if names is None else tuple(dict.fromkeys(names))
        self.logger = logger
        self.usage = usage
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="moorline-predict")
        self.poll_interval_s = poll_interval_s
        self._observer = observer
        #: every deployment requires a consumer key, whatever its settings say
        self.require_consumer = require_consumer
        self._clock = clock
        self._table: dict[str, DeploymentState] = {}
        self._versions: dict[tuple[str, int], LoadedVersion] = {}
        self._batchers: dict[tuple[str, str, int], MicroBatcher] = {}
        self._failures: dict[str, _Failure] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._apply_lock: asyncio.Lock | None = None
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False
        self.consumers = ConsumerCache(service.authenticate_consumer)
        self.shadow_dropped = 0
        self.loaded_at_ms: float | None = None

    # -- state ------------------------------------------------------------------------
    @property
    def service(self) -> DeploymentService:
        return self._service

    @property
    def ready(self) -> bool:
        """True once every served deployment's versions are loaded and warmed (a
        deployment still serving its previous revision counts as served)."""
        return (
            self._started
            and not self._closed
            and all(name in self._table for name in self._failures)
        )

    @property
    def table(self) -> Mapping[str, DeploymentState]:
        """The routing table now (replaced whole on every change)."""
        return self._table

    @property
    def versions(self) -> Mapping[tuple[str, int], LoadedVersion]:
        return dict(self._versions)

    @property
    def failures(self) -> dict[str, str]:
        """Deployments that could not be (re)loaded -> why."""
        return {name: f.message for name, f in self._failures.items()}

    def get(self, name: str) -> DeploymentState:
        """The current state of deployment ``name``; NotFound or NotReady."""
        state = self._table.get(name)
        if state is not None:
            return state
        if not self._started or name in self._failures:
            raise NotReady(f"Deployment {name!r} is not loaded yet; retry in a moment")
        raise NotFound(
            f"No deployment {name!r} is served here"
            + (f" (serving: {', '.join(sorted(self._table))})" if self._table else "")
        )

    def batchers(self) -> Mapping[tuple[str, str, int], MicroBatcher]:
        """(deployment, model, version) -> its batcher."""
        return dict(self._batchers)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self, *, strict: bool = True, watch: bool = True) -> None:
        """Load and warm every served deployment, publish the table, start watching.

        ``strict``: raise the first load failure (a CLI refusing to start);
        otherwise failures are logged, retried by the watcher, and keep
        :attr:`ready` false.
        """
        self._apply_lock = asyncio.Lock()
        started = time.perf_counter()
        revisions = await asyncio.to_thread(self._service.revisions)
        if self._names is not None:
            missing = [n for n in self._names if n not in revisions]
            if missing and strict:
                raise NotFound(
                    f"No deployment named {', '.join(repr(n) for n in missing)} in the store"
                )
        await self._apply(revisions, strict=strict)
        self._started = True
        self.loaded_at_ms = (time.perf_counter() - started) * 1000.0
        if watch:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop watching, let queued predicts and shadow copies finish (bounded)."""
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        pending: list[Awaitable[Any]] = [b.close() for b in self._batchers.values()]
        pending.extend(asyncio.shield(t) for t in list(self._shadow_tasks))
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout_s)
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _watch(self) -> None:
        warned = 0.0
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                revisions = await asyncio.to_thread(self._service.revisions)
            except Exception as exc:  # the store is down: keep serving what we have
                now = time.monotonic()
                if now - warned > 30:
                    log.warning("cannot poll deployment revisions: %s", exc)
                    warned = now
                continue
            if self._needs_apply(revisions):
                try:
                    await self._apply(revisions, strict=False)
                except Exception:
                    log.exception("applying deployment changes failed")

    def _wanted(self, revisions: Mapping[str, int]) -> list[str]:
        if self._names is None:
            return sorted(revisions)
        return [n for n in self._names if n in revisions]

    def _due(self, name: str, revision: int) -> bool:
        """Whether to try ``revision`` of ``name`` now (a failed one waits a while)."""
        failure = self._failures.get(name)
        return (
            failure is None
            or failure.revision != revision
            or time.monotonic() - failure.at >= RETRY_AFTER_S
        )

    def _needs_apply(self, revisions: Mapping[str, int]) -> bool:
        wanted = self._wanted(revisions)
        if any(name not in revisions for name in self._table):
            return True
        for name in wanted:
            state = self._table.get(name)
            if (state is None or state.revision != revisions[name]) and self._due(
                name, revisions[name]
            ):
                return True
        return False

    async def _apply(self, revisions: Mapping[str, int], *, strict: bool) -> None:
        assert self._apply_lock is not None
        async with self._apply_lock:
            table = dict(self._table)
            wanted = self._wanted(revisions)
            for name in list(table):
                if name not in revisions or name not in wanted:
                    del table[name]
                    self._failures.pop(name, None)
                    log.info("deployment %s is no longer served", name)
            for name in wanted:
                current = table.get(name)
                if current is not None and current.revision == revisions[name]:
                    continue
                failure = self._failures.get(name)
                if not strict and not self._due(name, revisions[name]):
                    continue
                try:
                    state = await self._build(name)
                except NotFound:
                    table.pop(name, None)  # deleted meanwhile
                    continue
                except Exception as exc:
                    message = exc.message if isinstance(exc, MoorlineError) else repr(exc)
                    if strict:
                        raise
                    if current is not None and failure is None:
                        log.error(
                            "deployment %s: revision %d cannot be applied, still serving "
                            "revision %d: %s",
                            name,
                            revisions[name],
                            current.revision,
                            message,
                        )
                    elif failure is None or failure.revision != revisions[name]:
                        log.error("deployment %s cannot be served: %s", name, message)
                    self._failures[name] = _Failure(
                        revision=revisions[name], at=time.monotonic(), message=message
                    )
                    continue
                self._failures.pop(name, None)
                if current is not None:
                    log.info(
                        "deployment %s: revision %d -> %d (%s)",
                        name,
                        current.revision,
                        state.revision,
                        state.deployment.policy.describe(),
                    )
                table[name] = state
            self._table = table  # the swap: one assignment
            self._release(table)

    async def _build(self, name: str) -> DeploymentState:
        deployment = await asyncio.to_thread(self._service.get, name)
        policy = deployment.policy
        settings = deployment.settings
        slots: dict[int, Slot] = {}
        for version in policy.versions:
            loaded = await self._version(deployment.model, version)
            key = (name, deployment.model, version)
            batcher = self._batchers.get(key)
            if batcher is None:
                batcher = MicroBatcher(
                    loaded.predict,
                    self._executor,
                    max_batch_size=settings.max_batch_size,
                    max_wait_ms=settings.max_wait_ms,
                    observe=self._batch_observer(name, deployment.model, version),
                )
                self._batchers[key] = batcher
            else:
                batcher.configure(
                    max_batch_size=settings.max_batch_size, max_wait_ms=settings.max_wait_ms
                )
            slots[version] = Slot(version=loaded, batcher=batcher)
        return DeploymentState(
            deployment=deployment,
            router=Router(name, policy),
            slots=slots,
            shadows=tuple(slots[v] for v in policy.shadows),
        )

    def _batch_observer(self, name: str, model: str, version: int) -> Any:
        observer = self._observer
        meter = self.usage
        if observer is None and meter is None:
            return None
        key = (name, model, version)

        def observe(
            *,
            rows: int,
            requests: int,
            queue_wait_s: float,
            predict_s: float,
            predict_cpu_s: float,
            retried: bool,
        ) -> None:
            if observer is not None:
                observer.batch(
                    name, version, rows=rows, queue_wait_s=queue_wait_s, predict_s=predict_s
                )
            if meter is not None:
                if retried:  # its requests are counted with their retries
                    requests = rows = 0
                meter.add(key, requests=requests, rows=rows, predict_cpu_s=predict_cpu_s)

        return observe

    async def _version(self, model: str, version: int) -> LoadedVersion:
        key = (model, version)
        found = self._versions.get(key)
        if found is not None:
            return found
        started = time.perf_counter()
        loaded = await asyncio.to_thread(self._loader, model, version)
        spec = InputSpec.from_signature(loaded.signature)
        handle = LoadedVersion(
            model=model,
            version=version,
            loaded=loaded,
            spec=spec,
            load_ms=(time.perf_counter() - started) * 1000.0,
        )
        await self._warm(handle)
        self._versions[key] = handle
        log.info(
            "loaded %s v%d (%s, %s) in %.0f ms",
            model,
            version,
            loaded.flavor,
            "digests verified" if loaded.verified else "no digests to verify",
            handle.load_ms,
        )
        return handle

    async def _warm(self, handle: LoadedVersion) -> None:
        """One predict on a neutral input, so the first caller does not pay for
        lazy initialisation; a model that refuses zeros is still served."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, handle.predict, handle.spec.zeros())
        except Exception as exc:
            log.warning(
                "warm-up predict of %s v%d failed (serving it anyway): %s",
                handle.model,
                handle.version,
                exc,
            )

    def _release(self, table: Mapping[str, DeploymentState]) -> None:
        used_versions = {
            (s.version.model, s.version.version) for st in table.values() for s in st.slots.values()
        }
        for model, version in [k for k in self._versions if k not in used_versions]:
            del self._versions[model, version]
            log.info("released %s v%d", model, version)
        used_batchers = {
            (st.name, st.deployment.model, v) for st in table.values() for v in st.slots
        }
        for key in [k for k in self._batchers if k not in used_batchers]:
            del self._batchers[key]

    # -- answering --------------------------------------------------------------------
    async def authenticate(self, state: DeploymentState, key: str | None) -> Consumer | None:
        """The declared consumer calling ``state`` (None: undeclared, when allowed)."""
        if key is None:
            if self.require_consumer or state.deployment.settings.require_consumer:
                raise Unauthenticated(
                    f"Deployment {state.name!r} requires a consumer key: send "
                    "'Authorization: Bearer mlc_...' or 'X-Moorline-Consumer-Key' "
                    "(declare one with 'moorline consumers declare')"
                )
            return None
        consumer = await self.consumers.get(key)
        if consumer.model != state.deployment.model:
            raise PermissionDenied(
                f"Consumer {consumer.name!r} is declared for model {consumer.model!r}, not "
                f"{state.deployment.model!r} (deployment {state.name!r})"
            )
        return consumer

    async def predict(
        self,
        state: DeploymentState,
        payload: Payload,
        *,
        version: int | None = None,
        key: str | None = None,
        consumer: Consumer | None = None,
        caller: str = "",
        started: float | None = None,
    ) -> Answer:
        """Answer one request with the version the policy picks (or ``version``).

        ``key``: the A/B key (the body's ``key`` wins over this one). Raises
        InvalidArgument for input the signature refuses, :class:`ModelFailed`
        when the model raised, RequestTimeout past the deployment's timeout.
        """
        call = _Call(state, payload, new_prediction_id(), consumer, caller)
        t0 = time.perf_counter() if started is None else started
        at = self._clock()
        settings = state.deployment.settings
        if version is None:
            sticky = payload.key or key or (consumer.name if consumer is not None else None)
            version = state.router.pick(random.random(), sticky)
            slot = state.slots[version]
        else:
            found = state.slots.get(version)
            if found is None:
                raise NotFound(
                    f"Deployment {state.name!r} does not serve version {version} "
                    f"(it serves {', '.join(str(v) for v in sorted(state.slots))})"
                )
            slot = found
        data, rows = to_model_input(payload, slot.version.spec)
        sampled = settings.log_sample >= 1.0 or random.random() < settings.log_sample
        logger = self.logger if sampled else None
        try:
            output = await slot.batcher.submit(data, rows, timeout_s=settings.timeout_s)
        except UserCodeError as exc:
            failed = self._model_failed(state, slot, exc, shadow=False)
            if logger is not None:
                logger.submit(call.record(slot, at=at, data=data, t0=t0, error_id=failed.error_id))
            raise failed from exc
        latency_ms = (time.perf_counter() - t0) * 1000.0
        if logger is not None:
            logger.submit(call.record(slot, at=at, data=data, output=output, t0=t0))
            if state.shadows:
                self._send_shadows(call, slot, data)
        return Answer(
            deployment=state.name,
            model=state.deployment.model,
            version=version,
            prediction_id=call.prediction_id,
            output=output,
            rows=rows,
            latency_ms=latency_ms,
        )

    def _model_failed(
        self, state: DeploymentState, slot: Slot, exc: UserCodeError, *, shadow: bool
    ) -> ModelFailed:
        error_id = uuid.uuid4().hex[:12]
        v = slot.version
        log.error(
            "model error %s: deployment %s, %s v%d%s: %s\n%s",
            error_id,
            state.name,
            v.model,
            v.version,
            " (shadow)" if shadow else "",
            exc.message,
            exc.user_traceback,
        )
        if self._observer is not None:
            self._observer.model_error(state.name, v.version, shadow=shadow)
        return ModelFailed(
            f"The model (version {v.version}) raised: {exc.message} (error id {error_id})",
            error_id=error_id,
            version=v.version,
            user_traceback=exc.user_traceback,
        )

    def _send_shadows(self, call: _Call, primary: Slot, data: ModelInput) -> None:
        loop = asyncio.get_running_loop()
        state = call.state
        for slot in state.shadows:
            if len(self._shadow_tasks) >= MAX_SHADOWS_IN_FLIGHT:
                self.shadow_dropped += 1
                if self._observer is not None:
                    self._observer.shadow(state.name, slot.version.version, "dropped")
                continue
            same = slot.version.spec == primary.version.spec
            task = loop.create_task(self._shadow(call, slot, data if same else None))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(self, call: _Call, slot: Slot, data: ModelInput | None) -> None:
        t0 = time.perf_counter()
        at = self._clock()
        state = call.state
        version = slot.version.version
        observer = self._observer
        logger = self.logger
        outcome = "ok"
        try:
            if data is None:
                data, rows = to_model_input(call.payload, slot.version.spec)
            else:
                rows = _rows_of(data)
            output = await slot.batcher.submit(
                data, rows, timeout_s=state.deployment.settings.timeout_s
            )
            if logger is not None:
                logger.submit(
                    call.record(slot, at=at, data=data, output=output, t0=t0, shadow=True)
                )
        except UserCodeError as exc:
            outcome = "error"
            failed = self._model_failed(state, slot, exc, shadow=True)
            if logger is not None and data is not None:
                logger.submit(
                    call.record(
                        slot, at=at, data=data, t0=t0, shadow=True, error_id=failed.error_id
                    )
                )
        except Exception as exc:
            outcome = "error"
            log.warning("shadow copy to %s v%d failed: %s", state.name, version, exc)
        if observer is not None:
            observer.shadow(state.name, version, outcome)


class _Call:
    """One request being answered: what its log records share."""

    __slots__ = ("caller", "consumer", "payload", "prediction_id", "state")

    def __init__(
        self,
        state: DeploymentState,
        payload: Payload,
        prediction_id: str,
        consumer: Consumer | None,
        caller: str,
    ) -> None:
        self.state = state
        self.payload = payload
        self.prediction_id = prediction_id
        self.consumer = consumer
        self.caller = caller

    def record(
        self,
        slot: Slot,
        *,
        at: int,
        data: ModelInput,
        t0: float,
        output: Any = None,
        shadow: bool = False,
        error_id: str | None = None,
    ) -> PredictionRecord:
        spec = slot.version.spec
        if spec.kind == "columns":
            columns: tuple[str, ...] | None = spec.names
        elif isinstance(data, dict):
            columns = tuple(data)
        else:
            columns = None
        return PredictionRecord(
            prediction_id=self.prediction_id,
            deployment=self.state.name,
            model=slot.version.model,
            version=slot.version.version,
            at=at,
            inputs=input_rows(data),
            outputs=[] if error_id is not None else per_row(output),
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            consumer=None if self.consumer is None else self.consumer.name,
            caller="" if self.consumer is not None else self.caller,
            shadow=shadow,
            columns=columns,
            error_id=error_id,
        )


def new_prediction_id() -> str:
    """128 random bits as 32 hex digits (the shape of a uuid4 hex, at a fraction of
    its cost on the hot path).

    >>> len(new_prediction_id()), new_prediction_id() != new_prediction_id()
    (32, True)
    """
    return os.urandom(16).hex()


def _rows_of(data: ModelInput) -> int:
    if isinstance(data, dict):
        return len(next(iter(data.values()))) if data else 0
    return int(data.shape[0])


__all__ = [
    "Answer",
    "ConsumerCache",
    "DeploymentState",
    "LoadedVersion",
    "ModelFailed",
    "ModelLoader",
    "NotReady",
    "RuntimeObserver",
    "ServingRuntime",
    "Slot",
    "new_prediction_id",
]
