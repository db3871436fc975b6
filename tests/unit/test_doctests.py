"""Docstring examples are documentation that must stay true: run them all."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import moorline

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(moorline.__path__, prefix="moorline.")
    if ".migrations" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
