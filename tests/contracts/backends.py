"""What a contract-suite backend is: the protocol every factory in ``conftest.BACKENDS`` meets."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import pytest

from moorline.auth.ports import TokenStore
from moorline.registry.ports import AuditStore, GovernanceStore, RegistryStore, WebhookStore
from moorline.tracking.ports import TrackingStore


class Stores(Protocol):
    """What a backend hands to one test."""

    @property
    def tracking(self) -> TrackingStore: ...

    @property
    def tokens(self) -> TokenStore: ...


class RegistryStores(Protocol):
    """What a backend of :data:`conftest.REGISTRY_BACKENDS` hands to one test: the
    registry ports over one empty store (``tracking`` too, for lineage)."""

    @property
    def tracking(self) -> TrackingStore: ...

    @property
    def registry(self) -> RegistryStore: ...

    @property
    def governance(self) -> GovernanceStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def webhooks(self) -> WebhookStore: ...


class BackendProvider(Protocol):
    def fresh(self) -> AbstractContextManager[Stores]:
        """Stores holding nothing but the Default experiment, valid inside the block."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSpec:
    """One registered backend: ``open`` is entered once per test module."""

    open: Callable[[pytest.TempPathFactory], AbstractContextManager[BackendProvider]]
    marks: tuple[pytest.MarkDecorator, ...] = ()


@dataclass(frozen=True, slots=True)
class FreshProvider:
    """A provider made from a function that opens fresh stores."""

    open_fresh: Callable[[], AbstractContextManager[Stores]]

    def fresh(self) -> AbstractContextManager[Stores]:
        return self.open_fresh()
