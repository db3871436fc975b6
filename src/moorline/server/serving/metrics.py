"""Prometheus metrics of a serving replica, in a registry of its own.

Counts and latencies per deployment, version and status class; model errors;
the micro-batcher's batch sizes, queue wait and predict time; shadow copies;
and, read at scrape time, the prediction log's queue, drops and writes and
each deployment's revision. With several workers each has its own numbers
(label them by scrape target, or sum them in queries).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from moorline.serving.runtime import ServingRuntime

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
_STATUS = {2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class ServingMetrics:
    """The replica's metric families; also the runtime's observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "moorline_serving_requests",
            "Prediction requests answered, by deployment, version and status class",
            ["deployment", "version", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "moorline_serving_request_duration_seconds",
            "Time from the request's arrival to its answer",
            ["deployment", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "moorline_serving_model_errors",
            "Predict calls in which the model raised",
            ["deployment", "version", "shadow"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "moorline_serving_batch_rows",
            "Rows per predict call (adaptive micro-batching)",
            ["deployment", "version"],
            buckets=ROWS_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "moorline_serving_queue_wait_seconds",
            "How long the first request of a batch waited before its predict call",
            ["deployment", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predict_time = Histogram(
            "moorline_serving_predict_duration_seconds",
            "Duration of one predict call (a whole batch)",
            ["deployment", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shadows = Counter(
            "moorline_serving_shadow_requests",
            "Shadow copies by outcome (ok, error, dropped)",
            ["deployment", "version", "outcome"],
            registry=r,
        )
        self._children: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}

    def watch(self, runtime: ServingRuntime) -> None:
        """Also export the runtime's state and its prediction log's counters."""
        self.registry.register(_RuntimeCollector(runtime))

    # -- per request (the hot path: children are looked up once) ---------------------
    def request(self, deployment: str, version: str, status: int, seconds: float) -> None:
        key = (deployment, version, status // 100)
        child = self._children.get(key)
        if child is None:
            child = self.requests.labels(deployment, version, _STATUS.get(status // 100, "other"))
            self._children[key] = child
        child.inc()
        lkey = (deployment, version)
        hist = self._latency.get(lkey)
        if hist is None:
            hist = self.latency.labels(deployment, version)
            self._latency[lkey] = hist
        hist.observe(seconds)

    # -- RuntimeObserver ----------------------------------------------------------------
    def batch(
        self, deployment: str, version: int, *, rows: int, queue_wait_s: float, predict_s: float
    ) -> None:
        v = str(version)
        self.batch_rows.labels(deployment, v).observe(rows)
        self.queue_wait.labels(deployment, v).observe(queue_wait_s)
        self.predict_time.labels(deployment, v).observe(predict_s)

    def model_error(self, deployment: str, version: int, *, shadow: bool) -> None:
        self.model_errors.labels(deployment, str(version), "true" if shadow else "false").inc()

    def shadow(self, deployment: str, version: int, outcome: str) -> None:
        self.shadows.labels(deployment, str(version), outcome).inc()

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _RuntimeCollector(Collector):
    """State read at scrape time: readiness, revisions, loaded versions, the log."""

    def __init__(self, runtime: ServingRuntime) -> None:
        self._runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        yield GaugeMetricFamily(
            "moorline_serving_ready", "1 when every deployment is loaded", value=int(runtime.ready)
        )
        revision = GaugeMetricFamily(
            "moorline_serving_deployment_revision",
            "The revision each deployment is served at",
            labels=["deployment"],
        )
        for name, state in runtime.table.items():
            revision.add_metric([name], state.revision)
        yield revision
        yield GaugeMetricFamily(
            "moorline_serving_loaded_versions",
            "Model versions loaded in this worker",
            value=len(runtime.versions),
        )
        queued = GaugeMetricFamily(
            "moorline_serving_batch_queue", "Requests waiting for a predict call", labels=[
                "deployment", "version"
            ]
        )  # fmt: skip
        for (name, _model, version), batcher in runtime.batchers().items():
            queued.add_metric([name, str(version)], batcher.queued)
        yield queued
        yield CounterMetricFamily(
            "moorline_serving_shadow_dropped",
            "Shadow copies dropped because too many were in flight",
            value=runtime.shadow_dropped,
        )
        logger = runtime.logger
        if logger is None:
            return
        yield GaugeMetricFamily(
            "moorline_serving_prediction_log_queued",
            "Prediction records waiting to be written",
            value=logger.queued,
        )
        yield CounterMetricFamily(
            "moorline_serving_prediction_log_dropped",
            "Prediction records dropped (queue full or closed)",
            value=logger.dropped,
        )
        yield CounterMetricFamily(
            "moorline_serving_prediction_log_written",
            "Prediction records written to the store",
            value=logger.written,
        )
        yield CounterMetricFamily(
            "moorline_serving_prediction_log_failed_batches",
            "Batches of prediction records the store refused",
            value=logger.failed_batches,
        )
