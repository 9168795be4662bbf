"""``docs/cli.md``: a reference of every ``oilake`` command, generated from its ``--help``."""

from __future__ import annotations

import click

WIDTH = 100  # help is wrapped at most this wide; the reference always at this width, so it is reproducible

HEADER = """# Command reference

Generated from each command's `--help` by `oilake docs --cli --output docs/cli.md` (`make docs`);
a test fails when it is stale. `oilake COMMAND -h` prints the same text.
"""


def command_help(group: click.Group, name: str | None = None, subcommand: str | None = None) -> str:
    """The ``--help`` text of ``oilake NAME [SUBCOMMAND]`` (of ``oilake`` itself when ``name`` is None)."""
    settings = {**group.context_settings, "terminal_width": WIDTH - 2}  # what a wide terminal shows
    context = click.Context(group, info_name="oilake", **settings)
    if name is None:
        return group.get_help(context)
    command: click.Command = group.commands[name]
    context = click.Context(command, info_name=name, parent=context, **command.context_settings)
    if subcommand is not None:
        assert isinstance(command, click.Group)
        command = command.commands[subcommand]
        context = click.Context(command, info_name=subcommand, parent=context, **command.context_settings)
    return command.get_help(context)


def render_cli_reference(group: click.Group) -> str:
    """Markdown: ``oilake --help``, then one section per command (and per subcommand of a command group)."""
    parts = [HEADER, "## oilake\n", _block(command_help(group))]
    for name, command in group.commands.items():
        parts += [f"## oilake {name}\n", _block(command_help(group, name))]
        for subcommand in command.commands if isinstance(command, click.Group) else []:
            parts += [f"### oilake {name} {subcommand}\n", _block(command_help(group, name, subcommand))]
    return "\n".join(parts)


def _block(text: str) -> str:
    return f"```text\n{text.rstrip()}\n```\n"
