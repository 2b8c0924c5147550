"""The diff command line: --help works from both executables without importing the heavy libraries,
usage errors exit 2, and the hand-written man page stays in step with the click command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import VENV_BIN, Cluster, run_cli
from diff_helpers import configmap, diff, statuses
from kubectl_gitops.cli import main

MAN_PAGE = Path(__file__).resolve().parent.parent / "man" / "kubectl-gitops-diff.1"
HEAVY = ("kubernetes", "pygit2", "urllib3", "jq", "lupa", "ruamel", "tabulate", "kubectl_gitops.engine")


def _diff_command() -> click.Command:
    cmd = main.get_command(click.Context(main), "diff")
    assert cmd is not None
    return cmd


def _diff_params() -> list[click.Parameter]:
    """Every parameter `--help` shows, the help option included."""
    cmd = _diff_command()
    return cmd.get_params(click.Context(cmd, **cmd.context_settings))


@pytest.mark.parametrize("argv", [["kubectl-gitops-diff", "--help"], ["kubectl-gitops-diff", "-h"],
                                  ["kubectl-gitops", "diff", "--help"]])
def test_diff_help(argv: list[str]) -> None:
    res = run_cli(*argv)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Usage: kubectl gitops diff [OPTIONS] [TARGET]\n")
    assert "Exit status: 0 no differences, 1 differences, 2 error." in res.stdout
    for opt in ("--revision", "--no-recursive", "--argocd-cm", "--output", "--color", "--kubeconfig",
                "--context", "--namespace"):
        assert opt in res.stdout


def test_top_level_help_lists_diff() -> None:
    res = run_cli("kubectl-gitops", "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Usage: kubectl gitops [OPTIONS] COMMAND [ARGS]...\n")
    assert re.search(r"^  diff +Show how the cluster differs from Git\.$", res.stdout, re.M)


@pytest.mark.parametrize("argv", [["kubectl-gitops-diff", "--help"], ["kubectl-gitops", "--help"],
                                  ["kubectl-gitops", "diff", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    exe, *args = argv
    res = subprocess.run([sys.executable, "-X", "importtime", str(VENV_BIN / exe), *args],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert "click" in imported  # the measurement itself works
    heavy = sorted(m for m in imported if any(m == h or m.startswith(f"{h}.") for h in HEAVY))
    assert heavy == [], f"--help imported {heavy}"


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "xml"], "Invalid value for '-o' / '--output': 'xml' is not one of"),
    (["--color", "sometimes"], "Invalid value for '--color'"),
    (["--no-such-flag"], "No such option '--no-such-flag'"),
    (["--argocd-cm", "/nonexistent/argocd-cm.yaml"], "does not exist"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    res = diff(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert res.stdout == ""


def test_namespace_flag_places_objects_that_name_none(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "plain"
    app.mkdir()
    (app / "cm.yaml").write_text(configmap("", "c", {"k": "v"}).replace("  namespace: \n", ""))
    assert "namespace" not in (app / "cm.yaml").read_text()
    res = diff(str(app), "-n", namespace)
    assert statuses(res.stdout) == {("plain", "ConfigMap", namespace, "c"): "Missing"}
    cluster.kubectl("create", "configmap", "c", "-n", namespace, "--from-literal=k=v")
    res = diff(str(app), "--namespace", namespace)
    assert statuses(res.stdout) == {("plain", "ConfigMap", namespace, "c"): "Synced"}
    assert res.returncode == 0


# -- the man page ----------------------------------------------------------------------------------

def _man_text() -> str:
    """The page as a reader sees the words: roff's escaped dashes unescaped, font changes removed."""
    text = MAN_PAGE.read_text().replace("\\-", "-")
    return re.sub(r"\\f[BIRP]", "", text)


def _section(text: str, name: str) -> str:
    m = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", text, re.M | re.S)
    assert m, f"no {name} section"
    return m.group(1)


def test_man_page_documents_every_option() -> None:
    options = _section(_man_text(), "OPTIONS")
    synopsis = _section(_man_text(), "SYNOPSIS")
    for param in _diff_params():
        names = [*param.opts, *param.secondary_opts]
        if isinstance(param, click.Argument):
            assert param.name and param.name.upper() in synopsis
            continue
        for name in names:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", options), f"{name} is not in OPTIONS"
            if name not in ("-h", "--help", "--output", "--namespace"):  # the synopsis shows the short forms
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", synopsis), f"{name} not in SYNOPSIS"
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                assert choice in options and choice in synopsis, f"{choice} of {names[0]} is not documented"
        if param.show_default and param.default is not None and not param.is_flag:
            assert f"default: {param.default}" in options, f"default of {names[0]} is not documented"


def test_man_page_documents_no_option_the_command_lacks() -> None:
    known = {name for p in _diff_params() for name in (*p.opts, *p.secondary_opts)}
    options = _section(_man_text(), "OPTIONS")
    # The option names each .TP entry's tag line (.B/.BI/.BR) documents.
    tags = "\n".join(line for line in options.splitlines() if line.startswith(".B"))
    documented = set(re.findall(r"(?<![\w-])(--[a-z][-a-z]*|-[a-z])\b", tags))
    assert documented, "no options found in the OPTIONS section"
    assert documented <= known, f"documented but not in the command: {sorted(documented - known)}"


def test_man_page_exit_status_matches_help() -> None:
    exit_status = _section(_man_text(), "EXIT STATUS")
    assert re.findall(r"^\.B (\d)$", exit_status, re.M) == ["0", "1", "2"]
    assert "Exit status: 0 no differences, 1 differences, 2 error." in (_diff_command().help or "")


def test_man_page_renders_cleanly() -> None:
    res = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN_PAGE)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
