"""The fenced code blocks of the docs pages, as the docs tests see them.

A fence opens with three or more backticks or tildes (indented or not, so blocks inside lists count)
and closes with a line of at least as many of the same character and nothing else. The info string
is what follows the opening fence; only blocks whose info string is exactly `python` are executed.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

# Code that reads one of the real data sets (from $FUNCNET_DATA_DIR on CI).
REAL_DATA = re.compile(
    r"\b(?:(?:mnist|imdb|reuters|boston_housing)\s*\.\s*(?:load_data|get_word_index)|datasets\s*\.\s*fetch)\b"
)

# Script paths named in shell commands.
SCRIPT_PATH = re.compile(r"(?<![\w/.-])((?:\./)?(?:experiments|benchmarks)/[\w./-]*?\.py)\b")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: its info string, the line of its first code line (1-based) and its code."""

    info: str
    line: int
    code: str

    @property
    def first_line(self) -> str:
        for text in self.code.splitlines():
            if text.strip():
                return text.strip()
        return ""


def blocks(text: str) -> list[Block]:
    """All fenced code blocks of a markdown text, in order (an unclosed fence runs to the end)."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        found.append(Block(info=info, line=i + 2, code=textwrap.dedent("\n".join(body)) + "\n"))
        i = j + 1
    return found


def python_blocks(text: str) -> list[Block]:
    """The executed blocks: info string exactly `python`."""
    return [b for b in blocks(text) if b.info == "python"]


def shell_blocks(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.info in ("bash", "sh", "shell", "console")]


def uses_real_data(text: str) -> bool:
    return any(REAL_DATA.search(b.code) for b in python_blocks(text))


def script_paths(text: str) -> list[str]:
    """The experiments/*.py and benchmarks/*.py paths that the page's shell commands name."""
    return [m.group(1).removeprefix("./") for b in shell_blocks(text) for m in SCRIPT_PATH.finditer(b.code)]


def pages() -> list[pathlib.Path]:
    return sorted(DOCS.rglob("*.md"))


def page_id(path: pathlib.Path) -> str:
    """`docs/getting-started.md` -> `getting-started`; `docs/reference/layers.md` -> `reference/layers`."""
    return path.relative_to(DOCS).with_suffix("").as_posix()


_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*\bsrc=[\"']([^\"']+)")


def images(text: str) -> list[str]:
    """The image paths a page shows (markdown images and raw <img> tags), outside code blocks."""
    code = {i for b in blocks(text) for i in range(b.line - 1, b.line - 1 + b.code.count("\n"))}
    prose = "\n".join(line for i, line in enumerate(text.splitlines()) if i not in code)
    return [m.group(1) or m.group(2) for m in _IMAGE.finditer(prose)]
