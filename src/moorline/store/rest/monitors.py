"""Monitors over moorline's HTTP API (``/api/v1/monitors``): the server computes.

Unlike the registry, which runs its service here over a remote store, a
remote monitor service forwards each use case whole: the server reads the
sources (its files, its datasets, its databases), computes drift, quality
and performance, stores the result, keeps the alert states and notifies the
channels, with its own clock. This client only sends configurations and
reads what the server answers, with the schemas the server renders with.

Credentials are write-only: a monitor read back has placeholders for them
(see :func:`moorline.monitoring.service.monitor_from_shown`), which go back
as ``"***"`` when it is sent again, so the server keeps the stored values.

Running a monitor is not retried once it may have reached the server (it
would record a second result and could notify twice); reads are.

>>> from moorline.store.rest.client import RestClient
>>> monitors = RestMonitorService(RestClient("http://127.0.0.1:5000"))  # doctest: +SKIP
>>> monitors.run("demand-drift").status  # doctest: +SKIP
<MonitorStatus.ALERTING: 'alerting'>
"""

from __future__ import annotations

from moorline.core.paging import Page
from moorline.monitoring.alerts import AlertState
from moorline.monitoring.monitors import Monitor, MonitorResult, validate_monitor_name
from moorline.monitoring.service import RESULTS_DEFAULT
from moorline.schemas import monitors as s
from moorline.store.rest.client import RestClient, quote_segment


def _path(name: str) -> str:
    return f"/monitors/{quote_segment(validate_monitor_name(name))}"


class RestMonitorService:
    """Implements :class:`moorline.monitoring.service.Monitors` against a server."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def create(self, monitor: Monitor) -> Monitor:
        body = s.CreateMonitor.from_domain(monitor)
        return self._client.call_json("POST", "/monitors", s.Monitor, body=body).to_domain()

    def update(self, monitor: Monitor) -> Monitor:
        body = s.MonitorConfig.from_domain(monitor)
        return self._client.call_json("PUT", _path(monitor.name), s.Monitor, body=body).to_domain()

    def get(self, name: str) -> Monitor:
        return self._client.call_json("GET", _path(name), s.Monitor).to_domain()

    def list_monitors(self) -> list[Monitor]:
        listed = self._client.call_json("GET", "/monitors", s.MonitorList)
        return [m.to_domain() for m in listed.items]

    def delete(self, name: str) -> None:
        self._client.call("DELETE", _path(name))

    def run(self, name: str) -> MonitorResult:
        return self._client.call_json(
            "POST", f"{_path(name)}/run", s.MonitorResult, idempotent=False
        ).to_domain()

    def results(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[MonitorResult]:
        params: dict[str, str | int] = {
            "max_results": RESULTS_DEFAULT if max_results is None else max_results
        }
        if page_token:
            params["page_token"] = page_token
        page = self._client.call_json(
            "GET", f"{_path(name)}/results", s.MonitorResultPage, params=params
        )
        return Page(
            items=tuple(r.to_domain() for r in page.items), next_page_token=page.next_page_token
        )

    def result(self, result_id: int, *, monitor: str | None = None) -> MonitorResult:
        path = (
            f"/monitor-results/{result_id}"
            if monitor is None
            else f"{_path(monitor)}/results/{result_id}"
        )
        return self._client.call_json("GET", path, s.MonitorResult).to_domain()

    def alert_states(self, name: str) -> dict[str, AlertState]:
        listed = self._client.call_json("GET", f"{_path(name)}/alerts", s.AlertStateList)
        return {state.key: state.to_domain() for state in listed.items}


__all__ = ["RestMonitorService"]
