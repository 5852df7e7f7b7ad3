"""Every docstring example of funcnet runs, and the API reference documents what it lists.

* Each module of the package (private ones too) is imported and its `>>>` examples are run with
  doctest (ELLIPSIS and NORMALIZE_WHITESPACE on), one test per module, in a fresh temporary current
  directory. A module whose examples load a real data set follows the data rule of the docs pages:
  skipped when FUNCNET_DATA_DIR is unset, a failure on CI (env CI).
* Every public function and class that a page of docs/reference/ renders (`::: funcnet.module`: the
  module's `__all__`, or else its names without a leading underscore that it defines) has a docstring,
  and so does the module itself. (Methods without one are simply left out of the rendered page:
  mkdocstrings' `show_if_no_docstring` is off.)
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import io
import os
import pkgutil
import re
import types

import pytest

import funcnet
from tests.docs import _markdown as md

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    names = [funcnet.__name__]
    for info in pkgutil.walk_packages(funcnet.__path__, prefix="funcnet."):
        names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _doctests(module: types.ModuleType) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module, module.__name__) if test.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    module = importlib.import_module(name)
    tests = _doctests(module)
    if not tests:
        pytest.skip("no docstring examples")
    sources = "".join(example.source for test in tests for example in test.examples)
    if md.REAL_DATA.search(sources) and not os.environ.get("FUNCNET_DATA_DIR"):
        if os.environ.get("CI"):
            pytest.fail(f"{name}'s examples load a real data set and FUNCNET_DATA_DIR is not set on CI")
        pytest.skip("examples load a real data set and FUNCNET_DATA_DIR is not set")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} examples failed in {name}:\n{report.getvalue()}",
                    pytrace=False)


def _reference_modules() -> list[str]:
    found = []
    for page in sorted((md.DOCS / "reference").glob("*.md")):
        found += re.findall(r"^:::\s*(funcnet[\w.]*)", page.read_text(encoding="utf-8"), re.M)
    return found


def _public_members(module: types.ModuleType):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items()
                 if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__]
    for n in names:
        obj = getattr(module, n)
        if isinstance(obj, types.ModuleType):
            yield from _public_members(obj)
        elif inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj) and hasattr(obj, "__wrapped__"):
            yield f"{module.__name__}.{n}", obj


@pytest.mark.parametrize("name", _reference_modules())
def test_reference_page_objects_have_docstrings(name):
    module = importlib.import_module(name)
    missing = [] if (module.__doc__ or "").strip() else [name]
    for qualname, obj in _public_members(module):
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(qualname)
    assert not missing, f"public objects without a docstring (rendered by docs/reference/): {missing}"


def test_every_public_module_has_a_reference_page():
    pages = set(_reference_modules())
    assert not set(m for m in funcnet.__all__ if not m.startswith("_")) - {n.split(".")[1] for n in pages}
