"""The docs tell the truth: every example of README.md and docs/*.md runs as written, every link
resolves, and docs/architecture.md names every module.

Shell blocks (```sh, ```bash, ```console) run line by line, as on a fresh clone after
`make build-lake`: in a temporary folder holding the repository's files (links), a `.venv` that
links to the real one, and a lake built there by `make build-lake`, with `.venv/bin` first on PATH.
```python blocks run with `.venv/bin/python -c` there, ```sql blocks on that lake (the cookbook's are
run by tests/test_cookbook.py). A block that cannot run in a test is preceded by
`<!-- not run: reason -->`.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"cli.md", "data-dictionary.md", "views.md"}  # written by `oilake docs`, checked elsewhere
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in GENERATED)]
SHELLS = {"sh", "bash", "console"}
LANGUAGES = SHELLS | {"python", "sql"}
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>\S.*\S) -->$")
LINKED = ("Makefile", "pyproject.toml", "pipeline", "schemas", "sql", "benchmarks", "tests")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    not_run: str | None  # the reason, when the block is marked `<!-- not run: reason -->`

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The command lines of a shell block: continuations joined, comments and blank lines left out."""
        text = self.text.replace("\\\n", " ")
        lines = [line.strip() for line in text.splitlines()]
        if self.language == "console":
            return [line[2:] for line in lines if line.startswith("$ ")]
        return [line for line in lines if line and not line.startswith("#")]


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` in a runnable language, with their `not run` marks."""
    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        mark = NOT_RUN.match(previous.strip())
        if fence.group(1) in LANGUAGES:
            text = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(page, index + 1, fence.group(1), text, mark.group("reason") if mark else None))
        else:
            assert mark is None, f"{page.name}:{index + 1}: a `not run` mark on a block that never runs"
        index = end + 1
    return found


BLOCKS = [block for page in PAGES for block in blocks(page)]
RUN = [b for b in BLOCKS if b.not_run is None and not (b.language == "sql" and b.page.name == "cookbook.md")]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A folder that looks like a fresh clone after `make build-lake`, and the environment to run in it."""
    folder = tmp_path_factory.mktemp("clone")
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    (folder / "docs").mkdir()  # `make docs` writes here, not into the repository
    venv = folder / ".venv"  # links to the real one; its own install stamp, so make never reinstalls
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed-stamp").touch()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "120"}
    env.pop("VIRTUAL_ENV", None)
    run = subprocess.run(["make", "build-lake"], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return {"cwd": folder, "env": env}


def test_docs_have_examples_and_every_skip_has_a_reason() -> None:
    assert {page.name for page in PAGES} >= {"README.md", "building.md", "lake.md", "querying.md", "cookbook.md"}
    assert len([b for b in BLOCKS if b.language in SHELLS and b.not_run is None]) >= 10
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if "not run" in line and line.lstrip().startswith("<!--"):
                assert NOT_RUN.match(line.strip()), f"{page.name}:{number}: write `<!-- not run: reason -->`"
    for block in BLOCKS:
        if block.not_run is not None:
            assert len(block.not_run.split()) >= 2, f"{block.id}: say why it cannot run"


def test_no_example_calls_a_tool_nothing_installs() -> None:
    installed = {".venv/bin/oilake", ".venv/bin/python", "make", "ls"}
    for block in BLOCKS:
        if block.language in SHELLS:
            for command in block.commands():
                program = command.split()[0]
                allowed = installed if block.not_run is None else installed | {"python"}  # the official downloader
                assert program in allowed, f"{block.id}: `{program}` is not installed by `make build-lake`"


@pytest.mark.slow  # about a minute: each command line is a process
@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_example_runs(block: Block, clone: dict[str, object]) -> None:
    cwd, env = clone["cwd"], clone["env"]
    assert isinstance(cwd, Path) and isinstance(env, dict)
    argvs = {
        "sql": lambda: [[".venv/bin/oilake", "sql", "--lake", "lake", "--format", "csv", block.text]],
        "python": lambda: [[".venv/bin/python", "-c", block.text]],
    }.get(block.language, lambda: [["bash", "-c", command] for command in block.commands()])()
    for argv in argvs:
        command = argv[-1]
        run = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
        )
        assert run.returncode == 0, f"{block.id}: {command}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        assert "Traceback" not in run.stderr, f"{block.id}: {command}\n{run.stderr[-2000:]}"
        if block.language == "sql":
            assert len(run.stdout.splitlines()) >= 2, f"{block.id}: an example that answers nothing"


# --- links -----------------------------------------------------------------------------------


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_resolves() -> None:
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"https?://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: link to a missing file {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{page.name}: link to a missing heading {target}"


# --- docs/architecture.md --------------------------------------------------------------------


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for folder in ("pipeline", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "__init__.py"
    }


def test_architecture_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:pipeline|benchmarks)/[\w/]+\.py)`", text))
    assert sorted(_modules() - named) == [], "modules that docs/architecture.md does not name"
    assert sorted(named - {p for p in named if (ROOT / p).exists()}) == [], "named modules that do not exist"
