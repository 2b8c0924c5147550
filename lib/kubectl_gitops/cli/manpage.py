"""Man pages generated from the click commands, so `man kubectl-gitops-sync` and `--help` never
disagree. `python -m kubectl_gitops.cli.manpage man/` writes them; a test checks they are current."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubectl_gitops import __version__
from kubectl_gitops.cli import COMMANDS, main

GENERATED = ("sync", "status", "list", "history", "rollback")


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("\n.", "\n\\&.")


def render(name: str) -> str:
    cmd = main.get_command(click.Context(main), name)
    assert cmd is not None
    ctx = click.Context(cmd, info_name=f"kubectl gitops {name}")
    help_text = (cmd.help or "").strip()
    summary, _, body = help_text.partition("\n")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out = [f'.TH KUBECTL-GITOPS-{name.upper()} 1 "" "kubectl-gitops {__version__}" "kubectl-gitops manual"',
           ".SH NAME", f"kubectl\\-gitops\\-{name} \\- {_esc(COMMANDS[name][2].rstrip('.'))}",
           ".SH SYNOPSIS", f".B kubectl gitops {name}", _esc(usage), ".SH DESCRIPTION", _esc(summary)]
    for para in body.strip().split("\n\n"):
        out += [".PP", _esc(" ".join(line.strip() for line in para.splitlines()))]
    out.append(".SH OPTIONS")
    for param in cmd.get_params(ctx):
        record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
        if record is None:
            continue
        opts, text = record
        out += [".TP", f".B {_esc(opts)}", _esc(text)]
    out += [".SH EXIT STATUS", "0 no change (or synced and healthy), 1 changes found or the operation failed, "
            "2 an error before anything was written.", ".SH SEE ALSO",
            ", ".join(f"kubectl\\-gitops\\-{n}(1)" for n in sorted(COMMANDS) if n != name) + ", git\\-promote(1)"]
    return "\n".join(out) + "\n"


def write_all(directory: Path) -> list[Path]:
    paths = []
    for name in GENERATED:
        path = directory / f"kubectl-gitops-{name}.1"
        path.write_text(render(name))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "man")):
        print(p)
