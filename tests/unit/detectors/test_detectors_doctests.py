"""The docstring examples of every detectors module run and pass."""

import doctest
import importlib
import pkgutil

import pytest

import detectors

MODULES = sorted(m.name for m in pkgutil.iter_modules(detectors.__path__, "detectors."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
