"""A small ML project in a real git repository, trained into a real store.

The project (built once for the package, it runs real training):

1. ``churn-train`` v1 is logged (a preparation run);
2. ``train.py`` (committed) runs as ``python train.py 0.5``: it loads the
   latest ``churn-train``, fits a seeded scikit-learn model, logs params,
   metrics and the model, and registers it as ``churn`` (by user ``ana``);
3. ``bob`` moves ``churn@champion`` to version 1;
4. ``churn-train`` v2 is logged (the latest is now other data);
5. ``train.py`` runs once more with an uncommitted edit, registering
   ``churn-dirty``: its run records a dirty tree.

``train.py`` reads its params from ``MOORLINE_REPRODUCE_PARAMS`` when
``moorline reproduce`` runs it; ``TRAIN_NOISE`` and ``TRAIN_FAIL`` let the
reproduce tests make a reproduction differ or fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.main import cli
from moorline.tracking.datasets import LoggedDataset

TRAIN_PY = textwrap.dedent(
    """
    import json, os, sys

    import moorline
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss

    recorded = json.loads(os.environ.get("MOORLINE_REPRODUCE_PARAMS") or "{}")
    C = float(recorded.get("C", sys.argv[1] if len(sys.argv) > 1 else 1.0))

    moorline.set_experiment("churn")
    with moorline.start_run(run_name="train"):
        moorline.log_params({"C": C, "seed": 0})
        df = moorline.load_dataset("churn-train")
        X, y = df[["tenure", "monthly"]].to_numpy(), df["churned"].to_numpy()
        model = LogisticRegression(C=C, random_state=0, max_iter=1000).fit(X, y)
        p = model.predict_proba(X)[:, 1]
        if os.environ.get("TRAIN_FAIL"):
            raise RuntimeError("training failed on purpose")
        noise = float(os.environ.get("TRAIN_NOISE", "0"))
        moorline.log_metrics({"accuracy": accuracy_score(y, p > 0.5) + noise,
                              "log_loss": log_loss(y, p)})
        moorline.log_model(model, "model",
                           registered_model_name=os.environ.get("REGISTER_AS", "churn"))
    """
)


@dataclass(frozen=True)
class Project:
    repo: Path
    commit: str
    store_uri: str
    artifacts: str
    train_v1: LoggedDataset
    train_v2: LoggedDataset
    run_id: str
    dirty_run_id: str

    def invoke(self, *args: str) -> Result:
        """``moorline --store ... --artifacts ... ARGS`` in-process."""
        return CliRunner().invoke(
            cli, ["--store", self.store_uri, "--artifacts", self.artifacts, *args]
        )

    def services(self) -> Services:
        return build_services(Settings(store_uri=self.store_uri, artifacts_uri=self.artifacts))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ana", "-c", "user.email=ana@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def churn_frame(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    monthly = rng.normal(60, 15, n).round(2)
    churned = rng.random(n) < 1 / (1 + np.exp(0.08 * tenure - 0.03 * monthly))
    return pd.DataFrame({"tenure": tenure, "monthly": monthly, "churned": churned})


def _train(project_env: dict[str, str], repo: Path, *args: str, **env: str) -> None:
    """Run train.py as a user would."""
    proc = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=repo,
        env={**project_env, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="package")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("project")
    repo, store = root / "repo", root / "store"
    repo.mkdir()
    store.mkdir()
    store_uri = f"sqlite:///{store / 'moorline.db'}"
    artifacts = str(store / "artifacts")
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(TRAIN_PY)
    (repo / ".gitignore").write_text(".moorline/\n")
    git(repo, "add", "train.py", ".gitignore")
    git(repo, "commit", "-q", "-m", "training script")
    commit = git(repo, "rev-parse", "HEAD")

    env = {
        **os.environ,
        "MOORLINE_TRACKING_URI": store_uri,
        "MOORLINE_ARTIFACTS_URI": artifacts,
        "MOORLINE_USER": "ana",
    }
    for key in ("MOORLINE_REPRODUCE_PARAMS", "MOORLINE_REPRODUCE_DATASETS", "MOORLINE_RUN_TAGS"):
        env.pop(key, None)
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=artifacts))
    try:
        tracking = services.tracking
        prep = tracking.create_run("0", user_id="ana", run_name="prepare")
        v1 = services.datasets.log(churn_frame(1), "churn-train", run_id=prep.run_id)
        tracking.end_run(prep.run_id)

        _train(env, repo, "0.5")
        (mv,) = services.registry.search_model_versions(filter_string="name = 'churn'").items
        assert mv.run_id
        services.registry.set_alias(
            "churn", "champion", mv.version, actor="bob", reason="first model worth serving"
        )

        prep2 = tracking.create_run("0", user_id="ana", run_name="prepare again")
        v2 = services.datasets.log(churn_frame(2), "churn-train", run_id=prep2.run_id)
        tracking.end_run(prep2.run_id)

        (repo / "train.py").write_text(TRAIN_PY + "# an edit nobody committed\n")
        _train(env, repo, "0.5", REGISTER_AS="churn-dirty")
        git(repo, "checkout", "--", "train.py")
        (dirty,) = services.registry.search_model_versions(
            filter_string="name = 'churn-dirty'"
        ).items
        assert dirty.run_id
        yield Project(
            repo=repo,
            commit=commit,
            store_uri=store_uri,
            artifacts=artifacts,
            train_v1=v1,
            train_v2=v2,
            run_id=mv.run_id,
            dirty_run_id=dirty.run_id,
        )
    finally:
        services.close()
