"""``moorline server`` delivers webhooks in the background, as users run it."""

from __future__ import annotations

import json
from pathlib import Path

from moorline.auth.models import Role
from moorline.bootstrap import Settings, build_services
from moorline.registry.events import verify_signature
from moorline.registry.governance import Actor
from tests.registry.conftest import make_model
from tests.registry.receiver import receiver
from tests.support.live import start_server


def test_the_server_delivers_changes_made_by_another_process(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'moorline.db'}"
    services = build_services(Settings(store_uri=uri, artifacts_uri=str(tmp_path / "artifacts")))
    try:
        make_model(services, "churn", [{"auc": 0.8}])
        with receiver() as rx:
            hook = services.webhooks.add(
                rx.url,
                actor=Actor(name="root", role=Role.ADMIN),
                events=["model_version.alias_set"],
            )
            server = start_server(tmp_path, store_uri=uri)
            try:
                # A change made through the local store: the server's dispatcher finds it
                # in the shared outbox and sends it.
                services.registry.set_alias("churn", "champion", 1, actor="ana")
                (request,) = rx.wait_for(1, timeout=20)
            finally:
                server.stop()
    finally:
        services.close()
    assert verify_signature(request.body, hook.secret, request.headers["X-Moorline-Signature"])
    assert json.loads(request.body)["data"]["target"] == "models:/churn@champion"
