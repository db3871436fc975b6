"""``moorline datasets list|versions|show`` against a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from moorline.cli.main import cli
from tests.contracts.rest_backend import fresh_services


@dataclass(frozen=True)
class Logged:
    uri: str
    artifacts: str
    old: str
    new: str

    def invoke(self, *args: str) -> Any:
        result = CliRunner().invoke(
            cli, ["--store", self.uri, "--artifacts", self.artifacts, *args]
        )
        return result


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    root: Path = tmp_path_factory.mktemp("datasets-cli")
    services = fresh_services(root)
    try:
        run = services.tracking.create_run("0", run_name="prep")
        df = pd.DataFrame({"age": [31, 45, 27], "city": ["paris", "lyon", "paris"]})
        old = services.datasets.log(df, "customers", run_id=run.run_id)
        new = services.datasets.log(df.assign(age=[31, 46, 27]), "customers", run_id=run.run_id)
        services.datasets.log(df, "team/holdout", run_id=run.run_id, context="eval")
    finally:
        services.close()
    yield Logged(
        uri=f"sqlite:///{root / 'moorline.db'}",
        artifacts=str(root / "artifacts"),
        old=old.digest,
        new=new.digest,
    )


def test_list_counts_versions_per_name(logged: Logged) -> None:
    result = logged.invoke("datasets", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"name": "customers", "versions": 2, "latest_digest": logged.new},
        {"name": "team/holdout", "versions": 1, "latest_digest": logged.old},
    ]
    table = logged.invoke("datasets", "list")
    assert "customers" in table.stdout and logged.new[:12] in table.stdout


def test_versions_are_newest_first_with_parsed_schema_and_profile(logged: Logged) -> None:
    result = logged.invoke("datasets", "versions", "customers", "--json")
    assert result.exit_code == 0, result.output
    versions = json.loads(result.stdout)
    assert [v["digest"] for v in versions] == [logged.new, logged.old]
    first = versions[0]
    assert first["schema"]["columns"][0] == {"name": "age", "type": "int64", "nullable": False}
    assert first["profile"]["rows"] == 3
    assert first["run_count"] == 1 and isinstance(first["first_used_at"], int)
    table = logged.invoke("datasets", "versions", "customers")
    assert logged.old in table.stdout


def test_show_gives_one_version_and_its_profile(logged: Logged) -> None:
    result = logged.invoke("datasets", "show", "customers", logged.old, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["digest"] == logged.old
    age = shown["profile"]["columns"][0]
    assert (age["min"], age["max"]) == (27, 45)
    table = logged.invoke("datasets", "show", "customers")  # the newest
    assert logged.new in table.stdout
    assert "paris (2)" in table.stdout  # the categorical summary


def test_a_missing_dataset_exits_2_naming_it(logged: Logged) -> None:
    result = logged.invoke("datasets", "show", "nothing")
    assert result.exit_code == 2
    assert "No dataset named 'nothing'" in " ".join(result.stderr.split())
