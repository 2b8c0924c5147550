"""The notify command's surface: its man page lists every option of every subcommand, and listing
commands does not import the notification engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from kubectl_gitops.cli import main
from kubectl_gitops.cli.manpage import _leaves

MAN = Path(__file__).resolve().parent.parent / "man" / "kubectl-gitops-notify.1"


def test_man_page_lists_every_subcommand_and_option() -> None:
    page = MAN.read_text().replace("\\-", "-")
    group = main.get_command(click.Context(main), "notify")
    leaves = _leaves(group, "notify")
    assert [p for p, _ in leaves] == ["notify template notify", "notify trigger run"]
    for path, cmd in leaves:
        assert f"kubectl gitops {path}" in page
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, f"{opt} of {path} missing from the man page"


def test_help_does_not_import_the_engine() -> None:
    code = ("import sys; from kubectl_gitops.cli import main, run\n"
            "try:\n    main.main(['--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('kubectl_gitops.notify')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "notify" in out and out.strip().endswith("[]")


def test_commands_other_than_sync_do_not_import_notify() -> None:
    """diff, status and history go through kubectl_gitops.commands; only a sync loads notifications."""
    code = ("import sys, kubectl_gitops.commands\n"
            "print(sorted(m for m in sys.modules if m.startswith('kubectl_gitops.notify')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_example_runs(tmp_path: Path) -> None:
    from conftest import run_cli

    ex = Path(__file__).resolve().parent.parent / "examples" / "notifications"
    readme = (ex.parent.parent / "README.md").read_text()
    cm = ["--notifications-cm", str(ex / "argocd-notifications-cm.yaml")]
    r = run_cli("kubectl-gitops", "notify", "trigger", "run", "on-sync-succeeded", str(ex / "guestbook.yaml"), *cm)
    assert r.returncode == 0, r.stderr
    assert r.stdout in readme
    r = run_cli("kubectl-gitops", "notify", "template", "notify", "app-sync-succeeded", str(ex / "guestbook.yaml"),
                *cm, "--notifications-secret", str(ex / "argocd-notifications-secret.yaml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout in readme and "xoxb-replace-me" not in r.stdout
