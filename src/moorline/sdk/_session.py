"""The process-wide SDK session: which store, its services, the active experiment.

Nothing is read or built at import time. Settings come from the environment
(``MOORLINE_*``) the first time a function needs the store, unless
:func:`set_tracking_uri` chose one; the services are then built once and
shared by every thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from moorline.errors import Conflict, InvalidArgument
from moorline.tracking.models import ExperimentId

if TYPE_CHECKING:
    from moorline.bootstrap import Services, Settings


class Session:
    """Lazily built services for one tracking URI, plus the active experiment."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._uri: str | None = None
        self._services: Services | None = None
        self._experiment_id: ExperimentId | None = None

    def settings(self) -> Settings:
        from moorline.bootstrap import Settings

        return Settings.from_env(store_uri=self._uri)

    def tracking_uri(self) -> str:
        with self._lock:
            if self._services is not None:
                return self._services.settings.store_uri
            return self.settings().store_uri

    def services(self) -> Services:
        with self._lock:
            if self._services is None:
                from moorline.bootstrap import build_services

                self._services = build_services(self.settings())
            return self._services

    def set_tracking_uri(self, uri: str | None, *, busy: bool) -> None:
        """Switch stores; ``None`` goes back to the environment's choice.

        ``busy`` says whether a run is still active; switching then would leave
        that run logging to a store whose connections were just closed.
        """
        if uri is not None and (not isinstance(uri, str) or not uri.strip()):
            raise InvalidArgument(f"Tracking URI must be a non-empty string, got {uri!r}")
        if busy:
            raise Conflict(
                "A run is still active; end it (moorline.end_run()) before switching the "
                "tracking URI"
            )
        with self._lock:
            old, self._services = self._services, None
            self._uri = uri
            self._experiment_id = None
        if old is not None:
            old.close()

    @property
    def experiment_id(self) -> ExperimentId | None:
        return self._experiment_id

    @experiment_id.setter
    def experiment_id(self, value: ExperimentId | None) -> None:
        with self._lock:
            self._experiment_id = value

    def close(self) -> None:
        with self._lock:
            old, self._services = self._services, None
        if old is not None:
            old.close()


SESSION = Session()
