"""``--help`` texts from docstrings, reflowed: a docstring's line breaks are where the source
wrapped at 100 columns, not where a sentence ends, so within a paragraph they become spaces.

Typer (rich mode) keeps single line breaks after the first paragraph, which broke lines
mid-sentence in every ``--help``. Paragraphs (blank-line separated), lists (lines starting with
``-``, ``*`` or a number) and indented blocks keep their shape; the terminal wraps the rest.
"""

from __future__ import annotations

import inspect
import re

import typer

_KEEP_LINES = re.compile(r"^\s*([-*]|\d+[.)])\s|^\s{2,}\S|^\x08")
"""A line that starts a list item or an indented block keeps its own line."""


def reflow(text: str) -> str:
    """Join the wrapped lines of each paragraph of ``text`` (docstring-indented or not)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(_reflow_paragraph(p) for p in paragraphs)


def _reflow_paragraph(paragraph: str) -> str:
    lines = paragraph.split("\n")
    out: list[str] = []
    for line in lines:
        if out and not _KEEP_LINES.match(line):
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def reflow_help(app: typer.Typer) -> typer.Typer:
    """Reflow the help of every command and sub-app of ``app`` (in place) and return it.

    Call it once, after every command is registered: an explicit ``help=`` wins over the
    docstring, as in Typer.
    """
    if app.info.help:
        app.info.help = reflow(str(app.info.help))
    for command in app.registered_commands:
        text = command.help or (command.callback.__doc__ if command.callback else None)
        if text:
            command.help = reflow(text)
    for group in app.registered_groups:
        if group.help:
            group.help = reflow(str(group.help))
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
    return app
