"""The environment a model needs: Python, platform and pinned packages.

A flavor names the libraries it imports to load its files (``sklearn``,
``xgboost``, ...); they are pinned at the versions installed when the model
was logged, looked up in package metadata by import name, so a CPU-only
wheel such as ``xgboost-cpu`` is pinned under its own distribution name.

>>> env = Environment(python="3.11.9", platform="Linux-x86_64",
...                   requirements={"scikit-learn": "1.5.0"}, pip_requirements=("pandas<3",))
>>> env.requirement_lines()
['scikit-learn==1.5.0', 'pandas<3']
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from moorline.errors import InvalidArgument

MAX_REQUIREMENT = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """``requirements``: distribution name -> pinned version; ``pip_requirements``:
    what the user added, verbatim (``pandas<3``, ``-r extra.txt`` is not allowed)."""

    python: str
    platform: str
    requirements: dict[str, str] = field(default_factory=dict)
    pip_requirements: tuple[str, ...] = ()

    def requirement_lines(self) -> list[str]:
        """``requirements.txt`` lines: the pins, then the user's own lines.

        A user line naming a pinned distribution replaces its pin.
        """
        named = {_requirement_name(line) for line in self.pip_requirements}
        pins = [f"{d}=={v}" for d, v in sorted(self.requirements.items()) if d.lower() not in named]
        return [*pins, *self.pip_requirements]

    def to_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "platform": self.platform,
            "requirements": dict(sorted(self.requirements.items())),
            "pip_requirements": list(self.pip_requirements),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        reqs = data.get("requirements", {})
        extra = data.get("pip_requirements", [])
        if not isinstance(reqs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in reqs.items()
        ):
            raise ValueError("environment.requirements must map names to versions")
        if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
            raise ValueError("environment.pip_requirements must be a list of strings")
        return cls(
            python=str(data["python"]),
            platform=str(data["platform"]),
            requirements=dict(reqs),
            pip_requirements=tuple(extra),
        )


def _requirement_name(line: str) -> str:
    name = line.strip()
    for sep in ("[", "=", "<", ">", "!", "~", ";", " ", "@"):
        name = name.split(sep, 1)[0]
    return name.lower()


@functools.lru_cache(maxsize=1)
def _import_to_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def pinned_distributions(import_names: Iterable[str]) -> dict[str, str]:
    """Distribution name -> installed version for each import name that has one.

    An import name without package metadata (the user's own module) is left out.
    """
    mapping = _import_to_distributions()
    out: dict[str, str] = {}
    for name in import_names:
        top = name.split(".", 1)[0]
        for dist in mapping.get(top, []):
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return out


def check_pip_requirements(lines: Sequence[str] | None) -> tuple[str, ...]:
    if lines is None:
        return ()
    if isinstance(lines, str):
        raise InvalidArgument("pip_requirements must be a list of requirement strings, not a str")
    out: list[str] = []
    for line in lines:
        if not isinstance(line, str) or not line.strip():
            raise InvalidArgument(f"pip_requirements holds an empty or non-string entry: {line!r}")
        text = line.strip()
        if "\n" in text or "\r" in text or len(text) > MAX_REQUIREMENT:
            raise InvalidArgument(f"pip_requirements entry {text[:80]!r} must be one short line")
        if text.startswith("-"):
            raise InvalidArgument(
                f"pip_requirements entry {text!r}: pip options and requirement files are not "
                "allowed, name the packages"
            )
        out.append(text)
    return tuple(out)


def capture_environment(
    import_names: Iterable[str],
    pip_requirements: Sequence[str] | None = None,
    *,
    pins: Mapping[str, str] | None = None,
) -> Environment:
    """The current interpreter with ``import_names`` pinned, plus ``pip_requirements``.

    ``pins`` adds distributions by name (moorline itself, whose loader MLflow calls).
    """
    uname = platform.uname()
    return Environment(
        python=platform.python_version(),
        platform=f"{uname.system}-{uname.release}-{uname.machine}",
        requirements={**pinned_distributions(import_names), **(pins or {})},
        pip_requirements=check_pip_requirements(pip_requirements),
    )
