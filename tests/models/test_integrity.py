"""Every file is checked against its SHA-256 before anything is deserialised."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import moorline
from moorline.errors import IntegrityError
from moorline.models import load_model_dir, save_model
from moorline.models.digest import sha256_bytes
from moorline.models.manifest import MANIFEST_FILE
from tests.models.conftest import Store, run_artifact_folder

Data = tuple[pd.DataFrame, pd.Series]
FILES = [
    "MLmodel",
    MANIFEST_FILE,
    "input_example.json",
    "model.skops",
    "python_env.yaml",
    "requirements.txt",
]

#: Unpickling an :class:`Armed` appends here: proof of whether deserialisation ran.
UNPICKLED: list[str] = []


class Armed:
    """A model whose unpickling leaves a trace."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __setstate__(self, state: dict[str, Any]) -> None:
        UNPICKLED.append(state["label"])
        self.__dict__.update(state)

    def predict(self, data: Any) -> Any:
        return np.zeros(len(data))


def _flip_one_byte(file: Path, offset: int | None = None) -> None:
    data = bytearray(file.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    file.write_bytes(bytes(data))


@pytest.fixture
def logged(store: Store, frame: Data) -> tuple[str, Path]:
    """A sklearn model logged into a run: its URI and its folder in the artifact store."""
    x, y = frame
    with moorline.start_run() as run:
        info = moorline.log_model(LogisticRegression().fit(x, y), "model", input_example=x[:3])
    folder = run_artifact_folder(store, run.run_id, "model")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    return info.model_uri, folder


@pytest.mark.parametrize("name", FILES)
def test_a_one_byte_change_in_any_file_is_refused_naming_the_file(
    logged: tuple[str, Path], name: str
) -> None:
    uri, folder = logged
    before = sha256_bytes((folder / name).read_bytes())
    _flip_one_byte(folder / name)
    after = sha256_bytes((folder / name).read_bytes())
    with pytest.raises(IntegrityError) as caught:
        moorline.load_model(uri)
    message = str(caught.value)
    assert f"file {name!r} fails its integrity check" in message
    assert before in message and after in message
    assert caught.value.code.value == "INTEGRITY_ERROR"


def test_a_missing_file_is_refused(logged: tuple[str, Path]) -> None:
    uri, folder = logged
    (folder / "requirements.txt").unlink()
    with pytest.raises(
        IntegrityError, match=r"'requirements.txt' listed in the manifest is missing"
    ):
        moorline.load_model(uri)


def test_an_unexpected_file_is_refused(logged: tuple[str, Path]) -> None:
    uri, folder = logged
    (folder / "extra").mkdir()
    (folder / "extra" / "payload.py").write_text("print('hi')\n")
    with pytest.raises(IntegrityError, match=r"unexpected file\(s\) 'extra/payload.py'"):
        moorline.load_model(uri)


def test_a_rewritten_manifest_is_caught_by_the_digest_recorded_at_logging(
    logged: tuple[str, Path],
) -> None:
    """Swapping a file AND updating the manifest to match still fails: the manifest's
    own digest was recorded on the logged model when it was logged."""
    uri, folder = logged
    _flip_one_byte(folder / "requirements.txt", offset=0)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    for entry in manifest["files"]:
        if entry["path"] == "requirements.txt":
            entry["sha256"] = sha256_bytes((folder / "requirements.txt").read_bytes())
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(IntegrityError, match=f"file '{MANIFEST_FILE}' fails its integrity check"):
        moorline.load_model(uri)


def test_a_deleted_manifest_is_refused_when_one_was_recorded(logged: tuple[str, Path]) -> None:
    uri, folder = logged
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(IntegrityError, match=r"is missing, but a manifest with sha256"):
        moorline.load_model(uri)


def test_nothing_is_unpickled_before_every_file_checks_out(store: Store) -> None:
    UNPICKLED.clear()
    with moorline.start_run() as run:
        info = moorline.log_model(Armed("first"), "armed")
    assert UNPICKLED == []  # no input example: saving did not load it back
    folder = run_artifact_folder(store, run.run_id, "armed")
    pristine = (folder / "requirements.txt").read_bytes()

    _flip_one_byte(folder / "requirements.txt")
    with pytest.raises(IntegrityError, match=r"'requirements.txt' fails"):
        moorline.load_model(info.model_uri)
    _flip_one_byte(folder / "model.pkl", offset=-1)
    (folder / "requirements.txt").write_bytes(pristine)
    with pytest.raises(IntegrityError, match=r"'model.pkl' fails"):
        moorline.load_model(info.model_uri)
    assert UNPICKLED == []

    _flip_one_byte(folder / "model.pkl", offset=-1)
    assert isinstance(moorline.load_model(info.model_uri).raw, Armed)
    assert UNPICKLED == ["first"]


def test_a_local_folder_is_checked_too(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    model = LogisticRegression().fit(x, y)
    saved = save_model(model, tmp_path / "m", input_example=x[:2])
    loaded = moorline.load_model(tmp_path / "m")
    assert loaded.verified is True
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "m", copy)
    _flip_one_byte(copy / "model.skops")
    with pytest.raises(IntegrityError, match=r"'model.skops' fails its integrity check"):
        moorline.load_model(f"file://{copy}")
    # A manifest digest recorded elsewhere is checked as well.
    with pytest.raises(IntegrityError, match=MANIFEST_FILE):
        load_model_dir(tmp_path / "m", expected_manifest_sha256="0" * 64)
    assert load_model_dir(tmp_path / "m", expected_manifest_sha256=saved.manifest_sha256).verified


def test_a_symlink_in_a_model_folder_is_refused(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    save_model(LogisticRegression().fit(x, y), tmp_path / "m")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "m" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(IntegrityError, match=r"symbolic link 'link'"):
        moorline.load_model(tmp_path / "m")


def test_a_malformed_manifest_is_an_integrity_error(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    save_model(LogisticRegression().fit(x, y), tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())
    manifest["files"][0]["path"] = "../outside"
    (tmp_path / "m" / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"not a safe relative path|not a clean relative"):
        moorline.load_model(tmp_path / "m")


def test_trusted_types_are_exactly_the_recorded_ones(tmp_path: Path, frame: Data) -> None:
    """A manifest whose trusted list is shortened cannot make skops trust less quietly, and
    skops never trusts more than recorded: the load is refused."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = frame
    save_model(RandomForestClassifier(3, random_state=0).fit(x, y), tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())
    assert manifest["flavor_config"] == {"trusted_types": ["sklearn.tree._tree.Tree"]}
    manifest["flavor_config"] = {"trusted_types": []}
    (tmp_path / "m" / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"not recorded as trusted"):
        moorline.load_model(tmp_path / "m")
