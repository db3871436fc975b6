"""Registry records for the registry pages' tests, written into the ``site`` server's store.

The data is written through the real services before the pages are read:
two training runs that read two logged datasets, a real scikit-learn model
saved with its manifest (``MOORLINE_MODEL.json``), versions, aliases moved
by two people, a high-risk promotion policy, a pending approval, a model
whose name carries markup, one whose files live outside the artifact
store, one whose name ends in ``.json``, and one whose files were changed
after registration. The ``site`` server reads the same SQLite file, so the
pages show exactly this.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from moorline.auth.models import Role
from moorline.models.manifest import MANIFEST_FILE
from moorline.registry.governance import Actor
from moorline.sdk.models import TAG_FLAVOR, TAG_MANIFEST_SHA256
from moorline.tracking.models import Metric, Param, RunStatus

if TYPE_CHECKING:
    from moorline.bootstrap import Services
    from tests.ui.conftest import Site

MODEL = "churn"
#: Markup in a model name, description and tags must come out as text.
HOSTILE_MODEL = "ranker <img src=x onerror=alert(1)>"
HOSTILE_TEXT = "<script>window.__pwned = 1</script> & more"
JSON_NAMED_MODEL = "odd.json"
TAMPERED_MODEL = "tampered-model"
OUTSIDE_SOURCE = "s3://another-bucket/ranker/model"
#: The manifest digest recorded on the tampered version (its manifest was replaced).
RECORDED_ELSEWHERE = "f" * 64
T_SEED = 1_700_000_000_000
RUN_METRICS = {
    "v1": {"auc": 0.81, "f1": 0.7, "logloss": 0.45, "precision": 0.72, "recall": 0.69},
    "v2": {"auc": 0.86, "f1": 0.74, "logloss": 0.39, "precision": 0.75, "recall": 0.73},
}
#: Version 1's files, logged without a manifest (as an old or foreign tool would).
V1_FILES = {"MLmodel": b"flavors:\n  python_function: {}\n", "model.pkl": bytes(range(256)) * 8}
ADMIN = Actor(name="admin", role=Role.ADMIN)


@dataclass
class RegistrySite:
    site: Site
    #: run name ("v1", "v2") -> run id
    runs: dict[str, str] = field(default_factory=dict)
    dataset_digests: dict[str, str] = field(default_factory=dict)
    manifest_sha256: str = ""
    pending_approval: str = ""
    model_files: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.site.url


def _save_sklearn_model(folder: Path) -> tuple[str, dict[str, int]]:
    """A real fitted model saved with its manifest; (manifest digest, file sizes)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from moorline.models import save_model

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.random((40, 3)), columns=["age", "tenure", "monthly_spend"])
    y = (x["tenure"] > 0.5).astype(int)
    saved = save_model(LogisticRegression().fit(x, y), folder, input_example=x.head(3))
    return saved.manifest_sha256, {f.path: f.size for f in saved.files}


def _upload(services: Services, run_id: str, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            services.artifacts.log_run_artifact(run_id, f"{prefix}/{rel}", [path.read_bytes()])


def seed_registry(site: Site) -> RegistrySite:
    services = site.services
    tracking, registry, governance = services.tracking, services.registry, services.governance
    out = RegistrySite(site=site)
    import pandas as pd

    experiment = tracking.create_experiment("churn-training")
    train = {
        "age": [23, 35, 41, 52, 29, 61],
        "tenure": [1, 4, 7, 2, 9, 3],
        "plan": ["basic", "pro", "pro", "basic", "team", "pro"],
    }
    evaluation = {"age": [33, 47], "tenure": [5, 2], "plan": ["pro", "basic"]}
    for i, name in enumerate(("v1", "v2")):
        run = tracking.create_run(
            experiment, user_id="ana", run_name=f"train-{name}", start_time=T_SEED + i * 60_000
        )
        out.runs[name] = run.run_id
        tracking.log_batch(
            run.run_id,
            metrics=[
                Metric(key=k, value=v, timestamp=T_SEED, step=0)
                for k, v in RUN_METRICS[name].items()
            ],
            params=[Param(key="C", value=str(1.0 + i)), Param(key="max_iter", value="200")],
        )
        out.dataset_digests["churn-train"] = services.datasets.log(
            pd.DataFrame(train), "churn-train", run_id=run.run_id, context="train"
        ).digest
        out.dataset_digests["churn-eval"] = services.datasets.log(
            pd.DataFrame(evaluation), "churn-eval", run_id=run.run_id, context="eval"
        ).digest
        tracking.end_run(run.run_id, RunStatus.FINISHED)
    v1, v2 = out.runs["v1"], out.runs["v2"]

    for path, content in V1_FILES.items():
        services.artifacts.log_run_artifact(v1, f"model/{path}", [content])
    # v2: a real model with its manifest.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        digest, sizes = _save_sklearn_model(folder)
        _upload(services, v2, folder, "model")
        # The same files, changed after registration: a longer model file and a
        # manifest digest that no longer matches the one recorded.
        with (folder / "model.skops").open("ab") as fh:
            fh.write(b"tampered")
        _upload(services, v2, folder, "tampered")
    out.manifest_sha256, out.model_files = digest, sizes

    registry.create_registered_model(
        MODEL,
        description="Predicts churn <b>within</b> 30 days",
        tags={"team": "growth"},
        actor="ana",
    )
    registry.create_model_version(MODEL, f"runs:/{v1}/model", run_id=v1, actor="ana")
    registry.create_model_version(
        MODEL,
        f"runs:/{v2}/model",
        run_id=v2,
        tags={TAG_MANIFEST_SHA256: digest, TAG_FLAVOR: "sklearn"},
        actor="bo",
    )
    registry.set_alias(MODEL, "champion", 1, actor="ana", reason="first model")
    registry.set_alias(MODEL, "challenger", 2, actor="bo", reason="better auc offline")
    governance.set_policy(
        MODEL,
        actor=ADMIN,
        risk="high",
        protected_aliases=["champion"],
        must_beat={"auc": "higher"},
        reason="customer-facing",
    )
    out.pending_approval = governance.request_approval(
        MODEL,
        "champion",
        2,
        actor=Actor(name="ana", role=Role.EDITOR),
        reason="v2 beats v1 on auc",
    ).approval_id

    registry.create_registered_model(
        HOSTILE_MODEL, description=HOSTILE_TEXT, tags={"note": HOSTILE_TEXT}, actor="mallory"
    )
    registry.create_model_version(HOSTILE_MODEL, OUTSIDE_SOURCE, actor="mallory")
    registry.set_alias(HOSTILE_MODEL, "prod", 1, actor="mallory", reason=HOSTILE_TEXT)

    registry.create_registered_model(JSON_NAMED_MODEL, actor="ana")
    registry.create_model_version(JSON_NAMED_MODEL, f"runs:/{v1}/model", run_id=v1, actor="ana")

    registry.create_registered_model(TAMPERED_MODEL, actor="ana")
    registry.create_model_version(
        TAMPERED_MODEL,
        f"runs:/{v2}/tampered",
        run_id=v2,
        tags={TAG_MANIFEST_SHA256: RECORDED_ELSEWHERE},
        actor="ana",
    )
    assert MANIFEST_FILE in sizes
    return out


@pytest.fixture(scope="session")
def registry_site(site: Site) -> RegistrySite:
    return seed_registry(site)
