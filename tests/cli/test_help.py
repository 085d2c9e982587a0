"""Every subcommand says what it does; the exit codes are documented; the README's commands parse."""

import re

import click
import pytest

from settlement import cli
from settlement.commands import EXIT_BUSY, EXIT_FAILED, EXIT_USAGE
from settlement.config import PROJECT_ROOT


def every_command(group: click.Group = cli.cli, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))


@pytest.mark.parametrize("path", [path for path, _ in every_command()], ids=" ".join)
def test_every_subcommand_has_a_description(settlement, path):
    command = dict(every_command())[path]
    assert command.help and len(command.help) > 20
    outcome = settlement(*path, "--help")
    assert outcome.code == 0 and " ".join(command.help.split())[:60] in " ".join(outcome.out.split())


def test_the_exit_codes_are_in_the_help_and_the_readme(settlement):
    outcome = settlement("--help")
    assert outcome.code == 0
    readme = (PROJECT_ROOT / "README.md").read_text()
    for code in (EXIT_FAILED, EXIT_USAGE, EXIT_BUSY):
        assert re.search(rf"^\s+{code}\s+\w", outcome.out, re.MULTILINE), outcome.out
        assert re.search(rf"\|\s*`?{code}`?\s*\|", readme), f"exit code {code} is not in the README's table"


def readme_cli_commands() -> list[list[str]]:
    """The commands of the README's section "The CLI", as typed (comments dropped)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## The CLI", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["settlement"]:
                commands.append(words[1:])
    return commands


def test_the_readme_commands_are_commands_of_the_cli(settlement):
    commands = readme_cli_commands()
    assert len(commands) >= 10
    for words in commands:
        # Click parses every option before the eager --help answers: an unknown command or option fails
        assert settlement(*words, "--help").code == 0, words
