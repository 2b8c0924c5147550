"""Man pages generated from the click commands, so `man kubectl-gitops-sync` and `--help` never
disagree. `python -m kubectl_gitops.cli.manpage man/` writes them; a test checks they are current."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubectl_gitops import __version__
from kubectl_gitops.cli import COMMANDS, main

GENERATED = ("sync", "status", "list", "history", "rollback", "notify", "windows", "health", "lint", "watch")


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("\n.", "\n\\&.")


def _paragraphs(body: str) -> list[str]:
    out = []
    for para in body.strip().split("\n\n"):
        out += [".PP", _esc(" ".join(line.strip() for line in para.splitlines()))]
    return out


def _options(cmd: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
        if record is None:
            continue
        opts, text = record
        out += [".TP", f".B {_esc(opts)}", _esc(text)]
    return out


def _leaves(cmd: click.Command, path: str) -> list[tuple[str, click.Command]]:
    """A group's commands, depth first: ("notify trigger run", command)."""
    if not isinstance(cmd, click.Group):
        return [(path, cmd)]
    # a group whose own form is a hidden default command (`health FILE...`) shows it under its own name
    default = getattr(cmd, "default_command", None)
    own = [(path, default)] if isinstance(default, click.Command) else []
    return own + [leaf for n in sorted(cmd.commands) if not cmd.commands[n].hidden
                  for leaf in _leaves(cmd.commands[n], f"{path} {n}")]


def render(name: str) -> str:
    cmd = main.get_command(click.Context(main), name)
    assert cmd is not None
    ctx = click.Context(cmd, info_name=f"kubectl gitops {name}")
    help_text = (cmd.help or "").strip()
    summary, _, body = help_text.partition("\n")
    out = [f'.TH KUBECTL-GITOPS-{name.upper()} 1 "" "kubectl-gitops {__version__}" "kubectl-gitops manual"',
           ".SH NAME", f"kubectl\\-gitops\\-{name} \\- {_esc(COMMANDS[name][2].rstrip('.'))}",
           ".SH SYNOPSIS"]
    leaves = _leaves(cmd, name) if isinstance(cmd, click.Group) else []
    for path, leaf in leaves or [(name, cmd)]:
        leaf_ctx = click.Context(leaf, info_name=f"kubectl gitops {path}")
        out += [f".B kubectl gitops {path}", _esc(" ".join(leaf.collect_usage_pieces(leaf_ctx))), ".br"]
    out.pop()
    out += [".SH DESCRIPTION", _esc(summary), *_paragraphs(body)]
    if not leaves:
        out += [".SH OPTIONS", *_options(cmd, ctx)]
    for path, leaf in leaves:
        leaf_ctx = click.Context(leaf, info_name=f"kubectl gitops {path}")
        leaf_summary, _, leaf_body = (leaf.help or "").strip().partition("\n")
        out += [f".SH {_esc(path.upper())}", _esc(leaf_summary), *_paragraphs(leaf_body), ".SS Options",
                *_options(leaf, leaf_ctx)]
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
