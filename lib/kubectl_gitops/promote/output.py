"""Where `git promote` writes: results and diffs on stdout, progress and notes on stderr."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import click

from kubectl_gitops.promote.plan import FileEdit

_DIFF_COLORS = (("+++", "bold"), ("---", "bold"), ("diff ", "bold"), ("@@", "cyan"), ("+", "green"),
                ("-", "red"))


@dataclass(frozen=True)
class Console:
    color: bool | None  # None: colour when writing to a terminal; False: never

    @classmethod
    def from_env(cls) -> Console:
        # https://no-color.org: any non-empty NO_COLOR turns colour off; click does not look at it.
        return cls(False if os.environ.get("NO_COLOR") else None)

    def out(self, text: str) -> None:
        click.echo(text, color=self.color)

    def info(self, text: str) -> None:
        click.echo(text, err=True, color=self.color)

    def diff(self, edits: Sequence[FileEdit]) -> None:
        for e in edits:
            self.out(_style(f"diff --git a/{e.path} b/{e.path}"))
            for line in difflib.unified_diff(e.before.splitlines(), e.after.splitlines(),
                                             f"a/{e.path}", f"b/{e.path}", lineterm=""):
                self.out(_style(line))


def _style(line: str) -> str:
    color = next((c for prefix, c in _DIFF_COLORS if line.startswith(prefix)), None)
    if color is None:
        return line
    return click.style(line, bold=True) if color == "bold" else click.style(line, fg=color)
