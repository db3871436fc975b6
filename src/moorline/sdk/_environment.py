"""What a run records about where it ran: code version, entry point, user, Python.

Everything here is best effort and bounded in time: a missing ``git``, a
folder outside any repository, an unknown user or a package without metadata
leave the matching tag out instead of failing the run. ``git`` runs once per
run with a timeout; the Python environment comes from ``sys.modules`` and
package metadata, never from a ``pip`` subprocess.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from moorline.tracking.models import (
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_PYTHON_ENV,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_USER,
)

GIT_TIMEOUT_S = 5.0
#: The environment tag stays well below the tag value limit; packages beyond it are dropped.
MAX_ENV_JSON_CHARS = 5000
SOURCE_TYPE_LOCAL = "LOCAL"


@dataclass(frozen=True, slots=True, kw_only=True)
class GitState:
    commit: str
    dirty: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPoint:
    """``name`` is a script path or a module name; ``folder`` is where git looks."""

    name: str
    folder: Path


def entry_point() -> EntryPoint:
    """The program this process runs: ``python -m pkg.mod`` gives the module name,
    ``python train.py`` the script's absolute path, an interactive session ``<stdin>``.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    spec_name = getattr(spec, "name", None)
    if isinstance(spec_name, str) and spec_name and spec_name != "__main__":
        name = spec_name.removesuffix(".__main__")
        return EntryPoint(name=name, folder=Path.cwd())
    file = getattr(main, "__file__", None)
    if isinstance(file, str) and file:
        path = Path(file).resolve()
        return EntryPoint(name=str(path), folder=path.parent)
    return EntryPoint(name="<stdin>", folder=Path.cwd())


def git_state(folder: Path) -> GitState | None:
    """HEAD's commit and whether tracked files differ from it, or None outside a repository.

    Untracked files do not make the tree dirty: the embedded store's own
    ``.moorline`` folder would otherwise mark every run of a fresh repository.
    """
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    commit: str | None = None
    dirty = False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            if oid != "(initial)":
                commit = oid
        elif line and not line.startswith("#"):
            dirty = True
    if commit is None:
        return None
    return GitState(commit=commit, dirty=dirty)


def current_user() -> str:
    """The login name, or ``unknown`` when the system cannot tell (some containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return "unknown"


@functools.lru_cache(maxsize=4096)
def _package_version(name: str) -> str | None:
    """Installed version of import name ``name`` (cached: it cannot change in-process)."""
    try:
        return metadata.version(name)
    except (metadata.PackageNotFoundError, ValueError):
        pass
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    return version if isinstance(version, str) else None


def imported_packages() -> dict[str, str]:
    """Versions of the third-party top-level packages this process has imported.

    Keyed by import name; a module without a known version (the user's own
    code) is left out. The standard library never appears.
    """
    skip = set(sys.stdlib_module_names) | set(sys.builtin_module_names) | {"__main__"}
    names = sorted(
        {
            name
            for name in list(sys.modules)
            if "." not in name and not name.startswith("_") and name not in skip
        }
    )
    out: dict[str, str] = {}
    for name in names:
        version = _package_version(name)
        if version is not None:
            out[name] = version
    return out


def python_environment() -> str:
    """JSON with the Python version, the platform and :func:`imported_packages`.

    Kept under :data:`MAX_ENV_JSON_CHARS` by dropping packages from the end.
    """
    uname = platform.uname()
    env: dict[str, object] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{uname.system}-{uname.release}-{uname.machine}",
        "packages": {},
    }
    packages = imported_packages()
    kept: dict[str, str] = {}
    budget = MAX_ENV_JSON_CHARS - len(json.dumps(env, separators=(",", ":")))
    for name, version in packages.items():
        cost = len(json.dumps({name: version}, separators=(",", ":")))
        if cost > budget:
            break
        kept[name] = version
        budget -= cost
    env["packages"] = kept
    return json.dumps(env, separators=(",", ":"), sort_keys=True)


def run_context_tags() -> dict[str, str]:
    """The tags every SDK run starts with."""
    entry = entry_point()
    tags = {
        TAG_USER: current_user(),
        TAG_SOURCE_NAME: entry.name,
        TAG_SOURCE_TYPE: SOURCE_TYPE_LOCAL,
        TAG_PYTHON_ENV: python_environment(),
    }
    git = git_state(entry.folder)
    if git is not None:
        tags[TAG_GIT_COMMIT] = git.commit
        tags[TAG_GIT_DIRTY] = "true" if git.dirty else "false"
    return tags
