"""``--help`` of every command: each paragraph of its docstring on one line (the terminal wraps
it), never broken where the source wrapped."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from cli.help_text import reflow
from cli.main import app


def _commands(group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):  # a sub-app (typer vendors its own click)
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_reflow_joins_wrapped_lines_and_keeps_paragraphs_and_lists():
    text = """First sentence wraps
    here. Second.

    Next paragraph
    goes on.
    - a list item
    - another
    """
    assert reflow(text) == (
        "First sentence wraps here. Second.\n\nNext paragraph goes on.\n- a list item\n- another"
    )


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_help_paragraphs_are_not_broken_mid_sentence(path):
    command = dict(COMMANDS)[path]
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": "1000"}, terminal_width=1000
    )
    assert result.exit_code == 0, result.output
    lines = [line.strip(" │") for line in result.output.splitlines()]
    for paragraph in reflow(command.help or "").split("\n\n"):
        first_line = paragraph.split("\n")[0].strip()
        if first_line:
            assert any(first_line in line for line in lines), (first_line, result.output)
