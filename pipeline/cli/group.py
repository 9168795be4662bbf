"""The ``oilake`` command group: user and developer sections, and the one place errors become advice."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from pipeline.core.errors import OilakeError
from pipeline.read.redact import redact_text

INTERRUPTED = 130  # the shell's exit status for a process ended by SIGINT (128 + 2)

_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space (or point --lake, --dest or TMPDIR elsewhere) and run again",
    errno.EDQUOT: "the disk quota is used up: free some space (or point --lake, --dest or TMPDIR elsewhere)",
    errno.EACCES: "this user may not use that path: check its permissions, or choose another path",
    errno.EPERM: "this user may not use that path: check its permissions, or choose another path",
    errno.EROFS: "that file system is read-only: choose another path",
    errno.ENOENT: "check that the path exists",
    errno.EPIPE: "the reader of the output stopped early (e.g. `| head`); the lake is not affected",
}
_OS_HINT = "check the path, its permissions and the free disk space, then run again"
_INTERRUPTED_HINT = "run the command again: a build publishes nothing half-done, a fetch resumes cut downloads"


def fail(message: str, hint: str) -> None:
    """Print ``error:`` and ``hint:`` on stderr, every URL in them redacted (the one place messages are shown)."""
    click.echo(f"error: {redact_text(message)}", err=True)
    click.echo(f"hint: {redact_text(hint)}", err=True)


@contextmanager
def advice() -> Iterator[None]:
    """Turn named errors, environmental failures and Ctrl-C into ``error:`` + ``hint:`` and an exit status."""
    try:
        yield
    except OilakeError as exc:
        fail(str(exc), exc.hint)
        raise click.exceptions.Exit(1) from None
    except OSError as exc:
        fail(redact_text(str(exc)), _OS_HINTS.get(exc.errno or 0, _OS_HINT))
        raise click.exceptions.Exit(1) from None
    except KeyboardInterrupt:
        click.echo(err=True)
        fail("interrupted", _INTERRUPTED_HINT)
        raise click.exceptions.Exit(INTERRUPTED) from None


class OilakeGroup(click.Group):
    """Lists commands in the order added, users' first; runs each under ``advice``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.developer_commands: set[str] = set()

    def add_command(self, cmd: click.Command, name: str | None = None, developer: bool = False) -> None:
        """Add ``cmd``; ``developer`` lists it under "Developer commands" in the help."""
        super().add_command(cmd, name)
        if developer:
            self.developer_commands.add(name or cmd.name or "")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections = {"Commands": False, "Developer commands": True}
        limit = formatter.width - 6 - max(len(name) for name in self.commands)
        for title, developer in sections.items():
            rows = [
                (name, cmd.get_short_help_str(limit))
                for name, cmd in self.commands.items()
                if (name in self.developer_commands) == developer and not cmd.hidden
            ]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        with advice():
            return super().invoke(ctx)
