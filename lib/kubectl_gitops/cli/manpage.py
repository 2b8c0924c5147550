"""Man pages generated from the click commands, so `man kubectl-gitops-sync` and `--help` never
disagree. `python -m kubectl_gitops.cli.manpage man/` writes them; a test checks they are current."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubectl_gitops import __version__
from kubectl_gitops.cli import COMMANDS, main

GENERATED = ("sync", "status", "health")


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("\n.", "\n\\&.")


def render(name: str) -> str:
    group = main.get_command(click.Context(main), name)
    assert group is not None
    # `health` is a group whose own form (FILE...) is a default command; its subcommands follow it.
    cmd = getattr(group, "default_command", group)
    ctx = click.Context(cmd, info_name=f"kubectl gitops {name}")
    out = [f'.TH KUBECTL-GITOPS-{name.upper()} 1 "" "kubectl-gitops {__version__}" "kubectl-gitops manual"',
           ".SH NAME", f"kubectl\\-gitops\\-{name} \\- {_esc(COMMANDS[name][2].rstrip('.'))}",
           ".SH SYNOPSIS", f".B kubectl gitops {name}", _esc(" ".join(cmd.collect_usage_pieces(ctx))),
           ".SH DESCRIPTION", *_description(cmd), ".SH OPTIONS", *_options(cmd, ctx)]
    subcommands = [(n, c) for n, c in getattr(group, "commands", {}).items() if not c.hidden]
    if subcommands:
        out.append(".SH COMMANDS")
    for sub_name, sub in subcommands:
        sub_ctx = click.Context(sub, info_name=f"kubectl gitops {name} {sub_name}")
        out += [".SS " + _esc(f"kubectl gitops {name} {sub_name} " + " ".join(sub.collect_usage_pieces(sub_ctx))),
                *_description(sub), *_options(sub, sub_ctx)]
    out += [".SH EXIT STATUS", "0 no change (or synced and healthy), 1 changes found or the operation failed, "
            "2 an error before anything was written.", ".SH SEE ALSO",
            ", ".join(f"kubectl\\-gitops\\-{n}(1)" for n in sorted(COMMANDS) if n != name) + ", git\\-promote(1)"]
    return "\n".join(out) + "\n"


def _description(cmd: click.Command) -> list[str]:
    summary, _, body = (cmd.help or "").strip().partition("\n")
    out = [_esc(summary)]
    for para in body.strip().split("\n\n"):
        out += [".PP", _esc(" ".join(line.strip() for line in para.splitlines()))]
    return out


def _options(cmd: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
        if record is not None:
            out += [".TP", f".B {_esc(record[0])}", _esc(record[1])]
    return out


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
