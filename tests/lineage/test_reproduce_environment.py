"""The environment comparison of `moorline reproduce` maps import names to distributions."""

from __future__ import annotations

import json
import platform
from importlib import metadata

from moorline.registry.reproduce import environment_differences


def test_import_names_resolve_to_their_distributions() -> None:
    sklearn_version = metadata.version("scikit-learn")
    recorded = json.dumps(
        {"python": platform.python_version(), "packages": {"sklearn": sklearn_version}}
    )
    assert environment_differences(recorded) == ()


def test_a_changed_version_is_reported() -> None:
    recorded = json.dumps({"python": platform.python_version(), "packages": {"sklearn": "0.0.1"}})
    (difference,) = environment_differences(recorded)
    assert difference.package == "sklearn"
    assert difference.recorded == "0.0.1"
    assert difference.current == metadata.version("scikit-learn")
