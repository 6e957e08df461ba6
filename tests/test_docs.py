"""The examples in README.md and docs/*.md are run, so a page cannot drift
from what the code does.

What runs, block by block (a block is a fenced code block):

* ``pycon`` or ``python`` blocks with ``>>>`` prompts are doctests, run with
  the doctest module and the ELLIPSIS and NORMALIZE_WHITESPACE flags: ``...``
  stands for output that varies from run to run (addresses, pids, sizes).
  The blocks of one page share one namespace and run in page order, so a
  later block may use what an earlier one made.
* ``python`` blocks without prompts are complete programs, each run as a
  script in a fresh interpreter.
* ``sh`` blocks made only of ``memmaps ...`` command lines are run line by
  line (trailing ``# comments`` included, the shell drops them), and each
  line must exit with status 0.
* ``text`` blocks that start with ``$ `` are transcripts: each ``$ command``
  is run and what it prints (stdout and stderr together) must match the
  lines below it, with the same two doctest flags.

Commands run under ``sh`` with ``memmaps`` standing for ``python -m memmaps``
of this checkout, in the repository's root, and with the pid ``1234`` of the
pages replaced by the pid of the process running this test (a Python
process the tests may read, whose map has everything the examples name).

``text`` blocks that do not start with ``$ `` show a format, a message or
measured figures; they are not examples and are not run.  Any other block --
another language, an ``sh`` line that is not a ``memmaps`` command -- must be
marked on the line before its fence, with the reason::

    <!-- not run: installs the package -->

and an unmarked block that cannot be run fails test_every_example_runs_or_is_marked.
A marked block is never run, whatever it holds.  A reason that starts with
``a copy of PATH`` says the block shows the file PATH of the repository (a
script a test runs another way), and the block must hold exactly that
file's text.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import procutil

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: The pid the pages use for "another process", replaced when run.
PAGE_PID = "1234"
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[^\s`]*)")
TIMEOUT = 120


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: list[str]
    not_run: str | None  # the reason given in the marker, or None
    how: str = field(init=False)  # doctest, script, commands, transcript, display, unrunnable

    def __post_init__(self) -> None:
        self.how = classify(self)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def classify(block: Block) -> str:
    text = "\n".join(block.body)
    if block.lang in ("python", "py", "pycon"):
        if any(line.lstrip().startswith(">>>") for line in block.body):
            return "doctest"
        return "script" if block.lang != "pycon" else "unrunnable"
    if block.lang in ("sh", "shell", "bash", "console"):
        commands = [line for line in block.body if line.strip()]
        if commands and all(re.match(r"^memmaps(\s|$)", line) for line in commands):
            return "commands"
        return "unrunnable"
    if block.lang == "text":
        return "transcript" if text.startswith("$ ") else "display"
    return "unrunnable"


def read_blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = NOT_RUN.match(prev)
        indent = len(m.group("indent"))
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : end]]
        blocks.append(
            Block(page, i + 1, m.group("lang"), body, marker.group("reason") if marker else None)
        )
        i = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in read_blocks(page)]


def substitute(text: str) -> str:
    return re.sub(rf"\b{PAGE_PID}\b", str(os.getpid()), text)


def run_shell(command: str) -> subprocess.CompletedProcess[str]:
    # python_env(): under the sanitizer run, the children need the ASan
    # runtime the interpreter was given.
    env = dict(procutil.python_env(), PYTHONPATH=str(REPO), COLUMNS="200")
    script = f'memmaps() {{ "{sys.executable}" -m memmaps "$@"; }}\n{substitute(command)}\n'
    return subprocess.run(
        ["sh", "-c", script],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )


def ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


# ---- the inventory -------------------------------------------------------


def test_pages_have_examples() -> None:
    assert any(block.how == "doctest" and not block.not_run for block in BLOCKS)
    for page in (REPO / "README.md", REPO / "docs" / "index.md"):
        assert any(b.page == page and b.how == "doctest" for b in BLOCKS), page


def test_every_example_runs_or_is_marked() -> None:
    unmarked = [
        f"{block.where} [{block.lang or 'no language'}]"
        for block in BLOCKS
        if block.how == "unrunnable" and block.not_run is None
    ]
    assert not unmarked, (
        "these blocks cannot be run; make them runnable or put "
        "'<!-- not run: REASON -->' on the line before the fence: " + ", ".join(unmarked)
    )


def test_markers_give_a_reason() -> None:
    empty = [block.where for block in BLOCKS if block.not_run == ""]
    assert not empty, f"'not run' without a reason: {empty}"


def test_markers_sit_on_blocks() -> None:
    """A marker must be followed by a fence, or it marks nothing."""
    stray = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            if NOT_RUN.match(line.strip()):
                after = next((x for x in lines[i + 1 :] if x.strip()), "")
                if not FENCE.match(after):
                    stray.append(f"{page.relative_to(REPO)}:{i + 1}")
    assert not stray, f"'not run' markers not followed by a code block: {stray}"


# ---- copies of files ----------------------------------------------------------

COPY_OF = re.compile(r"^a copy of (?P<path>[^\s,]+)")
COPIES = [b for b in BLOCKS if b.not_run is not None and COPY_OF.match(b.not_run)]


def test_the_profiler_example_is_shown_whole() -> None:
    assert [b.page.name for b in COPIES].count("profiler-example.md") == 1


@pytest.mark.parametrize("block", COPIES, ids=ids(COPIES))
def test_copies_are_the_files(block: Block) -> None:
    match = COPY_OF.match(block.not_run or "")
    assert match is not None
    path = REPO / match["path"]
    shown = "\n".join(block.body) + "\n"
    assert shown == path.read_text(encoding="utf-8"), (
        f"{block.where} is not a copy of {match['path']} any more: copy the file into the page"
    )


# ---- doctests, one namespace per page ------------------------------------


def page_doctest(page: Path) -> doctest.DocTest | None:
    parser = doctest.DocTestParser()
    examples: list[doctest.Example] = []
    for block in BLOCKS:
        if block.page != page or block.how != "doctest" or block.not_run is not None:
            continue
        for example in parser.get_examples("\n".join(block.body) + "\n", name=block.where):
            # doctest reports test.lineno + example.lineno + 1.
            example.lineno += block.line
            examples.append(example)
    if not examples:
        return None
    name = str(page.relative_to(REPO))
    globs = {"__name__": "__memmaps_docs__"}
    return doctest.DocTest(examples, globs, name, str(page), -1, None)


DOCTEST_PAGES = [page for page in PAGES if page_doctest(page) is not None]


@pytest.mark.skipif(
    procutil.SANITIZED,
    reason=f"{procutil.SANITIZED_REASON}, and the preloaded runtime's malloc is not "
    "the libc one the examples show",
)
@pytest.mark.parametrize(
    "page", DOCTEST_PAGES, ids=[str(p.relative_to(REPO)) for p in DOCTEST_PAGES]
)
def test_doctests(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pages open files by paths from the repository's root
    # (docs/example.maps, tests/fixtures/...).
    monkeypatch.chdir(REPO)
    test = page_doctest(page)
    assert test is not None
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    try:
        result = runner.run(test, out=out.append, clear_globs=True)
    finally:
        # Examples may leave objects (mmaps, files) behind; drop them now.
        test.globs.clear()
    assert result.failed == 0, "".join(out)


# ---- scripts ---------------------------------------------------------------

SCRIPTS = [b for b in BLOCKS if b.how == "script" and b.not_run is None]


@pytest.mark.parametrize("block", SCRIPTS, ids=ids(SCRIPTS))
def test_scripts(block: Block) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(block.body)],
        cwd=REPO,
        env=dict(procutil.python_env(), PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, f"{block.where}:\n{done.stdout}{done.stderr}"


# ---- command lines -----------------------------------------------------------

COMMANDS = [
    (block, line)
    for block in BLOCKS
    if block.how == "commands" and block.not_run is None
    for line in block.body
    if line.strip()
]


@pytest.mark.parametrize(
    "block, command", COMMANDS, ids=[f"{b.where}:{c.split('#')[0].strip()}" for b, c in COMMANDS]
)
def test_commands(block: Block, command: str) -> None:
    done = run_shell(command)
    assert done.returncode == 0, f"{block.where}: {command}\n{done.stdout}"
    assert done.stdout.strip(), f"{block.where}: {command} printed nothing"


TRANSCRIPTS = [b for b in BLOCKS if b.how == "transcript" and b.not_run is None]


def transcript_steps(block: Block) -> list[tuple[str, str]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.body:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(command, "\n".join(want).rstrip("\n") + "\n") for command, want in steps]


@pytest.mark.parametrize("block", TRANSCRIPTS, ids=ids(TRANSCRIPTS))
def test_transcripts(block: Block) -> None:
    checker = doctest.OutputChecker()
    for command, want in transcript_steps(block):
        got = run_shell(command).stdout
        want = substitute(want)
        assert checker.check_output(want, got, FLAGS), (
            f"{block.where}: $ {command}\n"
            + checker.output_difference(doctest.Example(command, want), got, FLAGS)
        )


# ---- the scheme itself ---------------------------------------------------------


def test_classification(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```pycon\n>>> 1 + 1\n2\n```\n\n"
        "```python\nprint(1)\n```\n\n"
        "```sh\nmemmaps 1234 --format proc\n```\n\n"
        "```sh\npip install .\n```\n\n"
        "<!-- not run: needs a Mac -->\n```sh\nvmmap 1234\n```\n\n"
        "```text\n$ memmaps --version\nmemmaps ...\n```\n\n"
        "```text\nstart-end perms\n```\n\n"
        "```c\nint main(void);\n```\n",
        encoding="utf-8",
    )
    blocks = read_blocks(page)
    assert [(b.how, b.not_run) for b in blocks] == [
        ("doctest", None),
        ("script", None),
        ("commands", None),
        ("unrunnable", None),
        ("unrunnable", "needs a Mac"),
        ("transcript", None),
        ("display", None),
        ("unrunnable", None),
    ]
    assert [b.line for b in blocks] == [1, 6, 10, 14, 19, 23, 28, 32]
