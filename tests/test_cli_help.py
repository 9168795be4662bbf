"""One CLI style: help with examples everywhere, a fresh docs/cli.md, named errors with hints, a light ``-h``."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.cli.options import KEEP_DEFAULT
from pipeline.cli.reference import WIDTH, command_help, render_cli_reference
from pipeline.core import errors

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
COMMANDS = sorted(cli.commands)
HEAVY = ("duckdb", "polars", "pyarrow", "pandas", "fsspec")


def _examples(text: str) -> list[str]:
    """The lines of the ``Examples:`` block that ends ``text``, or [] when it does not end with one."""
    head, sep, block = text.rpartition("Examples:\n")
    lines = [line.strip() for line in block.strip().splitlines()]
    return lines if sep and head and lines and all(lines) else []


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_ends_with_examples_of_that_command(name: str | None) -> None:
    text = command_help(cli, name)
    lines = _examples(text)
    assert lines, f"`oilake {name or ''} -h` does not end with an Examples: block"
    prefix = f"oilake {name}" if name else "oilake "
    assert all(line.startswith(prefix) for line in lines), lines
    assert text.index("Options:") < text.index("Examples:")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help_everywhere(flag: str) -> None:
    top = CliRunner().invoke(cli, [flag])
    assert top.exit_code == 0 and top.stdout.startswith("Usage: oilake [OPTIONS] COMMAND")
    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, flag])
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith(f"Usage: oilake {name} ") and "Examples:" in result.stdout


def test_top_help_tells_user_and_developer_commands_apart() -> None:
    text = command_help(cli)
    users, developers = text.split("Commands:\n")[1].split("Developer commands:\n")
    listed = lambda section: {line.split()[0] for line in section.splitlines() if line.startswith("  ")}  # noqa: E731
    assert listed(developers) >= {"bench", "synth", "docs"}
    assert listed(users) == set(COMMANDS) - {"bench", "synth", "docs"}
    assert "build" in listed(users) and "sql" in listed(users)


def test_shared_options_are_the_same_everywhere() -> None:
    """``--lake``, the storage options and ``--output`` have one help text (and type) wherever they appear."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.name in ("lake", "storage_options", "lake_storage_options"):
                seen.setdefault(param.opts[0], set()).add((param.help or "", repr(param.type)))
            if param.name == "output":
                help_text = param.help or "" if isinstance(param, click.Option) else ""
                assert help_text.startswith(("File to write ", "Folder to write ")), name
    assert set(seen) == {"--lake", "--storage-option", "--lake-storage-option"}
    assert all(len(variants) == 1 for variants in seen.values()), seen
    for name in ("build", "sql", "image-list", "releases", "rollback", "verify", "catalog"):
        assert "lake" in {p.name for p in cli.commands[name].params}, name


def test_keep_default_is_the_library_default() -> None:
    try:
        from pipeline.lake.store import DEFAULT_KEEP
    except ImportError:  # before the store interface
        from pipeline.lake.local import DEFAULT_KEEP  # type: ignore[attr-defined,no-redef]
    assert KEEP_DEFAULT == DEFAULT_KEEP


def test_cli_reference_is_fresh() -> None:
    assert DOC.read_text(encoding="utf-8") == render_cli_reference(cli), "run `make docs` to regenerate it"


def test_every_command_is_in_the_reference_and_the_docs() -> None:
    reference = render_cli_reference(cli)
    prose = "\n".join(
        p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")] if p != DOC
    )
    for name in COMMANDS:
        assert f"## oilake {name}\n" in reference
        assert f"oilake {name}" in prose, f"`oilake {name}` is not named in README.md or docs/*.md"


def test_docs_cli_writes_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    result = CliRunner().invoke(cli, ["docs", "--cli", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_cli_reference(cli)
    both = CliRunner().invoke(cli, ["docs", "--cli", "--views"])
    assert both.exit_code == 2 and "pass --views or --cli, not both" in both.stderr


def _loaded_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom pipeline.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "Usage: oilake" in run.stdout
    return set(run.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["build", "-h"], ["sql", "--help"], ["bench", "-h"]])
def test_help_loads_no_engine(args: list[str]) -> None:
    loaded = _loaded_after(args)
    assert "click" in loaded and "pipeline" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_python_dash_m_runs_the_same_command() -> None:
    env = {**os.environ, "COLUMNS": str(WIDTH)}  # a terminal as wide as the reference
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "-h"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout == command_help(cli) + "\n"


def test_every_named_error_has_its_own_hint() -> None:
    from pipeline.families.selection import SelectionError
    from pipeline.lake.lock import LakeLockedError
    from pipeline.query.labels import UnknownClassError
    from pipeline.synth import SynthError

    named, todo = [], [errors.OilakeError]
    while todo:
        named.append(todo.pop())
        todo += named[-1].__subclasses__()
    assert {LakeLockedError, UnknownClassError, SelectionError, SynthError, errors.MemoryBudgetError} <= set(named)
    for error in named:
        if error.__module__.startswith("pipeline."):
            assert "hint" in vars(error) and error.hint.strip(), f"{error.__name__} has no hint of its own"
    assert (
        errors.LakeError("x", hint="do this").hint == "do this" and errors.LakeError("x").hint == errors.LakeError.hint
    )


def _failing(exc: BaseException) -> click.Group:
    """A copy of ``cli`` with a ``boom`` command that raises ``exc``."""
    group = type(cli)(name="oilake")

    @group.command("boom")
    def boom() -> None:
        raise exc

    return group


@pytest.mark.parametrize(
    ("exc", "code", "message", "hint"),
    [
        (errors.QueryError("Binder Error: nope"), 1, "error: Binder Error: nope", f"hint: {errors.QueryError.hint}"),
        (errors.LakeError("bad", hint="do that"), 1, "error: bad", "hint: do that"),
        (OSError(errno.ENOSPC, "No space left on device", "/lake/x"), 1, "No space left on device", "disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/lake"), 1, "Permission denied: '/lake'", "permissions"),
        (OSError(errno.EIO, "I/O error", "https://u:secret@host/f"), 1, "https://***@host/f", "check the path"),
        (KeyboardInterrupt(), 130, "error: interrupted", "run the command again"),
    ],
)
def test_errors_become_error_and_hint_in_one_place(exc: BaseException, code: int, message: str, hint: str) -> None:
    result = CliRunner().invoke(_failing(exc), ["boom"])
    assert result.exit_code == code and isinstance(result.exception, SystemExit)
    assert message in result.stderr and hint in result.stderr and "Traceback" not in result.output
    assert "secret" not in result.output
    assert result.stderr.splitlines()[-1].startswith("hint: ")


def test_bench_outside_a_clone_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "benchmarks", None)  # what an installed wheel sees: no benchmarks package
    monkeypatch.delitem(sys.modules, "benchmarks.run", raising=False)
    monkeypatch.delitem(sys.modules, "benchmarks.report", raising=False)
    result = CliRunner().invoke(cli, ["bench", "--scale", "0.01"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the benchmark is not installed")
    assert "hint: run it from a clone of the repository: `make bench`" in result.stderr
