"""The model server's HTTP shell: a raw ASGI app over :class:`ServingRuntime`.

No framework on the hot path: the path is matched by hand, the body is read
with a size limit (413 before reading it all when Content-Length says so),
decoded by :mod:`moorline.serving.protocols` and answered with orjson bytes.

Routes:

- Open Inference Protocol v2: ``GET /v2``, ``/v2/health/live``,
  ``/v2/health/ready``, ``GET /v2/models/{m}[/versions/{v}][/ready]``,
  ``POST /v2/models/{m}[/versions/{v}]/infer`` (model name = deployment name);
- MLflow scoring: ``POST /invocations`` (the default deployment),
  ``GET /ping``, ``GET /version``;
- moorline: ``POST /v1/deployments/{name}/predict`` (answers with the version
  and a prediction id), ``POST /v1/deployments/{name}/feedback``;
- operations: ``GET /health`` (live), ``GET /ready`` (503 until every
  deployment is loaded and warmed), ``GET /metrics`` (Prometheus).

Errors are JSON ``{"error_code", "message"}`` with the status of
``moorline.server.errors.HTTP_STATUS``; a model that raises gives 500
``{"error_code": "USER_CODE_ERROR", "error_id", "message"}`` and the
traceback is logged under that id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import orjson

from moorline import __version__
from moorline.errors import (
    EndpointNotFound,
    ErrorCode,
    InvalidArgument,
    MoorlineError,
    NotFound,
    PayloadTooLarge,
)
from moorline.server.errors import HTTP_STATUS
from moorline.server.serving.metrics import CONTENT_TYPE as METRICS_TYPE
from moorline.server.serving.metrics import ServingMetrics
from moorline.serving.protocols import (
    InputSpec,
    Payload,
    decode_mlflow,
    decode_oip,
    encode_deployment,
    encode_mlflow,
    encode_oip,
    oip_tensor_metadata,
)
from moorline.serving.runtime import DeploymentState, ModelFailed, NotReady, ServingRuntime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("moorline.serving")

JSON: Final = b"application/json"
TEXT: Final = b"text/plain; charset=utf-8"
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024
#: The paths this app answers when it is mounted inside the tracking server.
MOUNTED_PREFIXES: Final = ("/v2", "/invocations", "/ping", "/v1/deployments/")


class _Request:
    """What the handlers need from the ASGI scope, read in one pass over the headers."""

    __slots__ = (
        "ab_key",
        "consumer_key",
        "content_length",
        "content_type",
        "scope",
        "user_agent",
    )

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.content_type: str | None = None
        self.content_length: int | None = None
        self.consumer_key: str | None = None
        self.ab_key: str | None = None
        self.user_agent = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-length":
                with contextlib.suppress(ValueError):
                    self.content_length = int(value)
            elif name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                credential = credential.strip()
                if scheme.lower() == "bearer" and credential.startswith("mlc_"):
                    self.consumer_key = credential
            elif name == b"x-moorline-consumer-key":
                self.consumer_key = value.decode("latin-1").strip()
            elif name == b"x-moorline-key":
                self.ab_key = value.decode("latin-1")
            elif name == b"user-agent":
                self.user_agent = value.decode("latin-1")

    @property
    def caller(self) -> str:
        client = self.scope.get("client")
        host = client[0] if client else "unknown"
        return f"{host} {self.user_agent}".strip()


class ServingApp:
    """The ASGI app of one replica; ``startup``/``shutdown`` run with the server's
    lifespan (or are called by the app that mounts this one).

    ``strict``: a deployment that cannot be loaded at start stops the server
    (``on_fatal`` is called); otherwise it is retried and ``/ready`` says 503.
    ``load_before_listening``: load the models during startup, so the server
    only accepts connections once ready (a worker among several, whose
    siblings answer meanwhile); otherwise they load in the background and
    ``/ready`` says 503 until they are.
    """

    def __init__(
        self,
        runtime: ServingRuntime,
        *,
        metrics: ServingMetrics | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        default_deployment: str | None = None,
        strict: bool = False,
        on_fatal: Callable[[BaseException], None] | None = None,
        on_ready: Callable[[float], None] | None = None,
        on_closed: Callable[[], None] | None = None,
        load_before_listening: bool = False,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics or ServingMetrics()
        self.metrics.watch(runtime)
        self.max_body_bytes = max_body_bytes
        self.default_deployment = default_deployment
        self._strict = strict
        self._on_fatal = on_fatal
        self._on_ready = on_ready
        self._on_closed = on_closed
        self._loading: asyncio.Task[bool] | None = None
        self._load_first = load_before_listening
        self._started_at = time.perf_counter()

    # -- lifecycle ----------------------------------------------------------------------
    async def startup(self) -> None:
        """Start the prediction log and begin loading models (in the background, so
        ``/health`` answers at once and ``/ready`` says 503 until they are loaded);
        the usage meter starts once they are."""
        if self.runtime.logger is not None:
            self.runtime.logger.start()
        if self._load_first:
            if not await self._load():
                raise RuntimeError("the served deployments cannot be loaded (see above)")
            return
        self._loading = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> bool:
        try:
            await self.runtime.start(strict=self._strict)
        except Exception as exc:
            message = exc.message if isinstance(exc, MoorlineError) else repr(exc)
            log.error("cannot start serving: %s", message)
            if self._on_fatal is not None:
                self._on_fatal(exc)
            return False
        if self.runtime.usage is not None:
            self.runtime.usage.start()
        elapsed = (time.perf_counter() - self._started_at) * 1000.0
        if self._on_ready is not None:
            self._on_ready(elapsed)
        return True

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Finish queued predicts and shadow copies, then flush the prediction log
        and the serving usage."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading
        await self.runtime.close(timeout_s)
        logger = self.runtime.logger
        if logger is not None:
            await asyncio.to_thread(logger.close, timeout_s)
        usage = self.runtime.usage
        if usage is not None:
            await asyncio.to_thread(usage.close, timeout_s)
        if self._on_closed is not None:
            self._on_closed()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- dispatch -----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        oip = path.startswith("/v2")
        try:
            if method == "POST":
                await self._post(path, scope, receive, send)
            elif method in ("GET", "HEAD"):
                await self._get(path, send)
            else:
                raise EndpointNotFound(f"Method {method} is not allowed on {path}")
        except MoorlineError as exc:
            await _send_error(send, exc, oip=oip)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            log.error("unexpected error %s on %s %s", error_id, method, path, exc_info=exc)
            await _send(
                send,
                500,
                orjson.dumps(
                    {
                        "error_code": ErrorCode.INTERNAL_ERROR.value,
                        "error_id": error_id,
                        "message": f"Internal error (error id {error_id}); see the server log",
                    }
                ),
            )

    async def _post(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        parts = path.strip("/").split("/")
        if parts[0] == "v2" and len(parts) in (4, 6) and parts[1] == "models":
            if parts[-1] == "infer":
                version = _version(parts[4]) if len(parts) == 6 and parts[3] == "versions" else None
                if len(parts) == 6 and parts[3] != "versions":
                    raise EndpointNotFound(f"No endpoint at POST {path}")
                await self._predict(scope, receive, send, parts[2], version=version, protocol="oip")
                return
        elif path == "/invocations":
            await self._predict(
                scope, receive, send, self._default_name(), version=None, protocol="mlflow"
            )
            return
        elif parts[0] == "v1" and len(parts) == 4 and parts[1] == "deployments":
            if parts[3] == "predict":
                await self._predict(
                    scope, receive, send, parts[2], version=None, protocol="deployment"
                )
                return
            if parts[3] == "feedback":
                await self._feedback(scope, receive, send, parts[2])
                return
        raise EndpointNotFound(f"No endpoint at POST {path}")

    # -- predictions --------------------------------------------------------------------
    async def _predict(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        name: str,
        *,
        version: int | None,
        protocol: str,
    ) -> None:
        t0 = time.perf_counter()
        request = _Request(scope)
        status = 200
        served = ""
        try:
            state = self.runtime.get(name)
            consumer = await self.runtime.authenticate(state, request.consumer_key)
            body = await self._body(request, receive)
            payload: Payload
            if protocol == "oip":
                payload = decode_oip(body, request.content_type)
            else:
                payload = decode_mlflow(
                    body, request.content_type, allow_key=protocol == "deployment"
                )
            answer = await self.runtime.predict(
                state,
                payload,
                version=version,
                key=request.ab_key,
                consumer=consumer,
                caller=request.caller,
                started=t0,
            )
            served = str(answer.version)
            if protocol == "oip":
                out = encode_oip(
                    answer.output,
                    model_name=name,
                    model_version=answer.version,
                    request_id=payload.request_id,
                )
            elif protocol == "mlflow":
                out = encode_mlflow(answer.output)
            else:
                out = encode_deployment(
                    answer.output,
                    deployment=name,
                    version=answer.version,
                    prediction_id=answer.prediction_id,
                )
            await _send(send, 200, out)
        except MoorlineError as exc:
            status = _status(exc)
            if isinstance(exc, ModelFailed):
                served = str(exc.version)
            raise
        finally:
            self.metrics.request(name, served, status, time.perf_counter() - t0)

    async def _body(self, request: _Request, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes")
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes")
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvalidArgument("The client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _default_name(self) -> str:
        if self.default_deployment is not None:
            return self.default_deployment
        table = self.runtime.table
        if len(table) == 1:
            return next(iter(table))
        if not table:
            if not self.runtime.ready:
                raise NotReady("The server is still loading its models; retry in a moment")
            raise NotFound("No deployment is served here, so /invocations has nothing to call")
        raise InvalidArgument(
            f"/invocations needs one default deployment, and this server serves "
            f"{len(table)} ({', '.join(sorted(table))}): start it with --default-deployment, "
            "or call /v1/deployments/<name>/predict or /v2/models/<name>/infer"
        )

    async def _feedback(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        request = _Request(scope)
        state = self.runtime.get(name)
        await self.runtime.authenticate(state, request.consumer_key)
        body = await self._body(request, receive)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgument(f"Malformed JSON in the request body: {exc}") from None
        if isinstance(doc, dict) and "prediction_id" in doc:
            items = [doc]
        elif isinstance(doc, dict) and isinstance(doc.get("feedback"), list):
            items = doc["feedback"]
        elif isinstance(doc, list):
            items = doc
        else:
            raise InvalidArgument(
                'Feedback is {prediction_id, label|labels}, a list of those, or {"feedback": [...]}'
            )
        matched = await asyncio.to_thread(self.runtime.service.add_feedback, state.name, items)
        await _send(send, 200, orjson.dumps({"received": len(items), "matched": matched}))

    # -- reading ------------------------------------------------------------------------
    async def _get(self, path: str, send: Send) -> None:
        runtime = self.runtime
        if path == "/health":
            await _send(send, 200, b"OK", TEXT)
        elif path == "/ready":
            ready = runtime.ready
            doc = {
                "ready": ready,
                "deployments": {n: s.revision for n, s in sorted(runtime.table.items())},
                "failures": runtime.failures,
            }
            await _send(send, 200 if ready else 503, orjson.dumps(doc))
        elif path == "/metrics":
            await _send(send, 200, self.metrics.render(), METRICS_TYPE)
        elif path == "/ping":
            await _send(send, 200 if runtime.ready else 503, b"\n", TEXT)
        elif path == "/version":
            await _send(send, 200, __version__.encode(), TEXT)
        elif path == "/v2":
            doc = {"name": "moorline", "version": __version__, "extensions": []}
            await _send(send, 200, orjson.dumps(doc))
        elif path == "/v2/health/live":
            await _send(send, 200, b'{"live":true}')
        elif path == "/v2/health/ready":
            ready = runtime.ready
            await _send(send, 200 if ready else 503, orjson.dumps({"ready": ready}))
        elif path.startswith("/v2/models/"):
            await self._model_get(path, send)
        else:
            raise EndpointNotFound(f"No endpoint at GET {path}")

    async def _model_get(self, path: str, send: Send) -> None:
        parts = path.strip("/").split("/")
        # v2 models {m} [versions {v}] [ready]
        ready = parts[-1] == "ready"
        core = parts[:-1] if ready else parts
        if len(core) == 3:
            version = None
        elif len(core) == 5 and core[3] == "versions":
            version = _version(core[4])
        else:
            raise EndpointNotFound(f"No endpoint at GET {path}")
        name = core[2]
        if ready:
            try:
                state = self.runtime.get(name)
            except NotReady:
                await _send(send, 503, orjson.dumps({"name": name, "ready": False}))
                return
            if version is not None and version not in state.slots:
                raise NotFound(f"Deployment {name!r} does not serve version {version}")
            await _send(send, 200, orjson.dumps({"name": name, "ready": True}))
            return
        state = self.runtime.get(name)
        await _send(send, 200, orjson.dumps(_metadata(state, version)))


def _metadata(state: DeploymentState, version: int | None) -> dict[str, Any]:
    if version is not None and version not in state.slots:
        raise NotFound(f"Deployment {state.name!r} does not serve version {version}")
    chosen = version if version is not None else state.deployment.policy.primary
    slot = state.slots[chosen]
    loaded = slot.version.loaded
    outputs: list[dict[str, Any]] = []
    signature = loaded.signature
    if signature is not None and signature.outputs is not None:
        outputs = oip_tensor_metadata(InputSpec.from_signature(_as_input(signature.outputs)))
        if len(outputs) == 1 and outputs[0]["name"] == "input":
            outputs[0]["name"] = "predict"
    doc: dict[str, Any] = {
        "name": state.name,
        "versions": [str(v) for v in sorted(state.slots)],
        "platform": f"moorline-{loaded.flavor}",
        "inputs": oip_tensor_metadata(slot.version.spec),
        "outputs": outputs,
        "parameters": {
            "model": state.deployment.model,
            "policy": state.deployment.policy.describe(),
            "revision": state.revision,
        },
    }
    if version is not None:
        doc["version"] = str(version)
    return doc


def _as_input(schema: Any) -> Any:
    from moorline.models.signature import Signature

    return Signature(inputs=schema)


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"A model version is a number, got {text!r}") from None
    if value < 1:
        raise InvalidArgument(f"A model version is 1 or more, got {value}")
    return value


def _status(exc: MoorlineError) -> int:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    return HTTP_STATUS.get(exc.code, 500)


async def _send(send: Send, status: int, body: bytes, content_type: bytes = JSON) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, exc: MoorlineError, *, oip: bool) -> None:
    status = _status(exc)
    doc: dict[str, Any] = {"error_code": exc.code.value, "message": exc.message}
    if isinstance(exc, ModelFailed):
        doc["error_id"] = exc.error_id
    elif status >= 500 and not isinstance(exc, NotReady) and status != 504:
        error_id = uuid.uuid4().hex[:12]
        log.error("error %s: %s", error_id, exc.message, exc_info=exc)
        doc["error_id"] = error_id
    if oip:
        doc["error"] = exc.message
    headers = [(b"content-type", JSON)]
    body = orjson.dumps(doc)
    headers.append((b"content-length", str(len(body)).encode()))
    if status == 503:
        headers.append((b"retry-after", b"1"))
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="moorline-serving"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MountedServing:
    """ASGI middleware that answers the serving paths with ``serving`` and everything
    else with ``app`` (the tracking server), and runs the serving lifespan with
    the server's. Serving paths skip the server's token check: they have their
    own (consumer keys), which ``serving.runtime.require_consumer`` makes
    mandatory when the server requires authentication."""

    def __init__(self, app: ASGIApp, *, serving: ServingApp) -> None:
        self.app = app
        self.serving = serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and _is_serving_path(scope["path"]):
            await self.serving(scope, receive, send)
            return
        if kind == "lifespan":
            serving = self.serving

            async def lifespan_receive() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await serving.startup()
                elif message["type"] == "lifespan.shutdown":
                    await serving.shutdown()
                return message

            await self.app(scope, lifespan_receive, send)
            return
        await self.app(scope, receive, send)


def _is_serving_path(path: str) -> bool:
    return path in _EXACT or path.startswith(("/v2/", "/v1/deployments/"))


_EXACT: Final = frozenset({"/invocations", "/ping", "/v2"})
