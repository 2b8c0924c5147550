"""The generated man pages match the click commands they document."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_gitops.cli.manpage import GENERATED, render

MAN = Path(__file__).resolve().parent.parent / "man"


@pytest.mark.parametrize("name", GENERATED)
def test_man_page_is_current(name: str) -> None:
    committed = (MAN / f"kubectl-gitops-{name}.1").read_text()
    assert committed == render(name), f"regenerate: python -m kubectl_gitops.cli.manpage man/ ({name})"


@pytest.mark.parametrize("name", GENERATED)
def test_man_page_lists_every_option(name: str) -> None:
    import click

    from kubectl_gitops.cli import main

    cmd = main.get_command(click.Context(main), name)
    page = (MAN / f"kubectl-gitops-{name}.1").read_text().replace("\\-", "-")
    for param in cmd.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-"):
                assert opt in page, f"{opt} missing from man page of {name}"
