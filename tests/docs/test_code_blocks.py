"""Every ```python block of the docs is executed, so the docs cannot rot.

The rules (docs/index.md and the docs conventions):

* Blocks whose info string is exactly `python` run, in order, in ONE namespace per page (like a
  notebook), in a fresh temporary current directory, with `FUNCNET_DATA_DIR` from the environment.
  `__name__` is `"__docs__"`, so a script shown whole keeps its `if __name__ == "__main__":` guard
  from firing (call its `main([...])` in a later block instead).
  Output meant for readers goes in a separate ```text block, which is not run. `assert` states what
  the prose claims, so a wrong claim fails here.
* A page that loads a real data set (`mnist`, `imdb`, `reuters`, `boston_housing` `.load_data()` or
  `.get_word_index()`) is skipped when FUNCNET_DATA_DIR is unset, and fails instead on CI (env CI),
  as the `data_dir` fixture of tests/conftest.py does. Such pages carry the `data` marker (and `slow`
  when they train with `fit`).
* The ```bash (sh, shell, console) blocks are not run, but every `experiments/*.py` or
  `benchmarks/*.py` path they name must exist.
* The page runs under the test suite's JAX settings (tests/conftest.py: rank promotion raises); any
  `jax.config` change a page makes is undone afterwards, figures are closed, and matplotlib draws
  with the Agg backend (no display needed).

Run one page while writing it:

    .venv/bin/python -m pytest tests/docs/test_code_blocks.py -k getting-started
    .venv/bin/python tests/docs/test_code_blocks.py getting-started tensors    # the same, shorter

A failure names the page, the block's number and first line, and shows the traceback with the
markdown file's own line numbers.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sys
import traceback
import warnings

import pytest

if __name__ == "__main__":  # run as a script: make `tests` importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests.docs import _markdown as md  # noqa: E402

PAGES = md.pages()


def _params():
    params = []
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        marks = []
        if md.uses_real_data(text):
            marks.append(pytest.mark.data)
            if ".fit(" in text:
                marks.append(pytest.mark.slow)
        params.append(pytest.param(path, id=md.page_id(path), marks=marks))
    return params


class BlockFailed(Exception):
    """A docs block raised; the message names the page, the block and the traceback."""


@contextlib.contextmanager
def _page_environment():
    """Undo what a page may change in the process: JAX config, numpy printing and RNG, warnings
    filters, matplotlib figures."""
    import jax
    import numpy as np

    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    config = dict(jax.config.values)
    printoptions = np.get_printoptions()
    rng_state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            # plt.show() under Agg only warns that it cannot show anything.
            warnings.filterwarnings("ignore", message=".*non-interactive.*", category=UserWarning)
            yield
    finally:
        for name, value in config.items():
            if jax.config.values.get(name) != value:
                with contextlib.suppress(Exception):
                    jax.config.update(name, value)
        np.set_printoptions(**printoptions)
        np.random.set_state(rng_state)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def run_page(path: pathlib.Path, namespace: dict | None = None) -> dict:
    """Runs the page's ```python blocks in order in one namespace; raises BlockFailed on the first error."""
    text = path.read_text(encoding="utf-8")
    namespace = {"__name__": "__docs__"} if namespace is None else namespace
    try:
        shown = path.relative_to(md.ROOT)
    except ValueError:
        shown = path
    with _page_environment():
        for number, block in enumerate(md.python_blocks(text), start=1):
            # Padding puts the code on the markdown file's own line numbers, so tracebacks point into
            # the page (and show its lines).
            source = "\n" * (block.line - 1) + block.code
            try:
                code = compile(source, str(path), "exec")
                exec(code, namespace)
            except BaseException as error:  # noqa: BLE001 - SystemExit from a block is a failure too
                if isinstance(error, KeyboardInterrupt):
                    raise
                tb = error.__traceback__
                if tb is not None and tb.tb_frame.f_code is run_page.__code__:
                    tb = tb.tb_next  # drop this runner's own frame
                details = "".join(traceback.format_exception(type(error), error, tb))
                raise BlockFailed(
                    f"{shown}: python block {number} (line {block.line}, starting {block.first_line!r}) "
                    f"failed:\n{details}"
                ) from None
    return namespace


@pytest.mark.parametrize("path", _params())
def test_page_code_runs(path, tmp_path, monkeypatch):
    text = path.read_text(encoding="utf-8")
    if not md.python_blocks(text):
        pytest.skip("no ```python blocks")
    if md.uses_real_data(text) and not os.environ.get("FUNCNET_DATA_DIR"):
        if os.environ.get("CI"):
            pytest.fail(f"{path.name} loads a real data set and FUNCNET_DATA_DIR is not set on CI")
        pytest.skip("loads a real data set and FUNCNET_DATA_DIR is not set")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        run_page(path)
    except BlockFailed as failure:
        pytest.fail(str(failure), pytrace=False)


@pytest.mark.parametrize("path", [pytest.param(p, id=md.page_id(p)) for p in PAGES])
def test_page_commands_name_existing_scripts(path):
    missing = [p for p in md.script_paths(path.read_text(encoding="utf-8")) if not (md.ROOT / p).is_file()]
    assert not missing, f"{path.name}: shell blocks name scripts that do not exist: {missing}"


@pytest.mark.parametrize("path", [pytest.param(p, id=md.page_id(p)) for p in PAGES])
def test_page_images_are_drawn_by_experiment_scripts(path):
    """Images come only from docs/img/, and each is written by a script of experiments/ (its file name
    appears in the script), never drawn by hand."""
    scripts = {s: s.read_text(encoding="utf-8") for s in (md.ROOT / "experiments").glob("*.py")}
    problems = []
    for src in md.images(path.read_text(encoding="utf-8")):
        target = (path.parent / src).resolve()
        if target.parent != (md.DOCS / "img").resolve() or not target.is_file():
            problems.append(f"{src}: not a file in docs/img/")
        elif not any(re.search(rf"[\"'/]{re.escape(target.stem)}(\.png|[\"'])", text) for text in scripts.values()):
            problems.append(f"{src}: no experiments/*.py script names {target.name}")
    assert not problems, f"{path.name}: " + "; ".join(problems)


# --- the runner itself -------------------------------------------------------------------------


def test_blocks_share_one_namespace_and_only_python_runs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 2\n```\n\ntext\n\n```text\nnot python at all\n```\n\n"
        "```python title=\"skip me\"\nraise AssertionError\n```\n\n"
        "1. a list\n\n    ```python\n    y = x + 1\n    ```\n\n"
        "````markdown\n```python\nraise AssertionError\n```\n````\n"
    )
    assert run_page(page)["y"] == 3


def test_failure_names_page_block_first_line_and_markdown_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n```python\n# check\nassert x == 2, 'x is not 2'\n```\n")
    with pytest.raises(BlockFailed) as failure:
        run_page(page)
    message = str(failure.value)
    assert "python block 2 (line 8, starting '# check')" in message
    assert f'File "{page}", line 9' in message and "x is not 2" in message


def test_real_data_pages_and_script_paths_are_recognized():
    text = (
        "```python\nfrom funcnet.datasets import mnist\n(x, y), _ = mnist.load_data()\n```\n"
        "```bash\n.venv/bin/python experiments/imdb.py --epochs 4 && python ./benchmarks/x_y.py\n```\n"
    )
    assert md.uses_real_data(text)
    assert not md.uses_real_data("```python\ndatasets.digits.load_data()\n```\n")
    assert md.script_paths(text) == ["experiments/imdb.py", "benchmarks/x_y.py"]
    shown = "![a](img/a.png)\n\n```python\n# ![no](img/no.png)\n```\n<img alt=\"b\" src=\"../img/b.png\">\n"
    assert md.images(shown) == ["img/a.png", "../img/b.png"]


def test_config_changes_are_undone(tmp_path):
    import jax

    page = tmp_path / "page.md"
    page.write_text('```python\nimport jax\njax.config.update("jax_enable_x64", True)\n```\n')
    before = jax.config.values["jax_enable_x64"]
    run_page(page)
    assert jax.config.values["jax_enable_x64"] == before


if __name__ == "__main__":  # python tests/docs/test_code_blocks.py PAGE [PAGE ...]
    import subprocess

    names = sys.argv[1:]
    command = [sys.executable, "-m", "pytest", "-q", str(pathlib.Path(__file__).relative_to(md.ROOT))]
    if names:
        command += ["-k", " or ".join(names)]
    sys.exit(subprocess.call(command, cwd=md.ROOT))
