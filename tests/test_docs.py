"""Every command and every setting a user can reach is documented."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str) -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names


def test_every_cli_command_is_in_the_readme() -> None:
    commands = _commands(cli, "digest ")
    assert len(commands) >= 9
    for command in commands:
        assert f"`{command}" in README, f"{command} is not documented in README.md"


def test_the_readme_starts_with_the_two_setup_commands() -> None:
    blocks = README.split("```sh\n")[1:3]
    assert blocks[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert blocks[1].startswith("./scripts/test\n")
