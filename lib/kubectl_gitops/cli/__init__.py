"""Command-line entry points. Commands load lazily so `--help` never imports the heavy libraries."""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from kubectl_gitops import __version__, interrupt
from kubectl_gitops.errors import EXIT_ERROR, GitopsError

GC_THRESHOLD = 50_000  # allocations between young-generation collections (Python's default: 700)

# name -> (module, attribute, one-line help); the help is here so listing commands imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "diff": ("kubectl_gitops.cli.diff", "diff", "Show how the cluster differs from Git."),
    "sync": ("kubectl_gitops.cli.sync", "sync", "Make the cluster match Git."),
    "status": ("kubectl_gitops.cli.status", "status", "Show sync and health status of apps."),
    "health": ("kubectl_gitops.cli.health", "health", "Show the health of objects from files, without a cluster."),
    "lint": ("kubectl_gitops.cli.lint", "lint", "Check GitOps pitfalls in the manifests, offline."),
    "list": ("kubectl_gitops.cli.records", "list_apps", "List apps with their last deployment."),
    "history": ("kubectl_gitops.cli.records", "history", "Show an app's deployment history."),
    "rollback": ("kubectl_gitops.cli.records", "rollback", "Sync an app back to an earlier deployment."),
    "notify": ("kubectl_gitops.cli.notify", "notify", "Evaluate notification triggers and send templates."),
    "windows": ("kubectl_gitops.cli.windows", "windows", "Show the sync windows of apps and when they open."),
    "watch": ("kubectl_gitops.cli.watch", "watch", "Keep the cluster matching Git (automated sync, self-heal)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, COMMANDS[n][2]) for n in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubectl-gitops")
def main() -> None:
    """GitOps in the style of Argo CD, without Argo CD's server.

    Git is the source of truth: `diff` shows how the cluster differs from it, `sync` makes the
    cluster match it. Exit codes: 0 no change, 1 changes or failure, 2 error.
    """


def run(command: click.Command, args: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Run a click command, turning GitopsError into one message on stderr and its exit code."""
    debug = os.environ.get("KUBECTL_GITOPS_DEBUG") == "1"
    # A run allocates about a million short-lived, acyclic JSON values; at the default threshold the
    # cycle collector walks them thousands of times (~12 % of a no-change sync). Rarer passes suffice.
    gc.set_threshold(GC_THRESHOLD)
    interrupt.install()
    _run_lua_in_a_worker()
    try:
        rc = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except GitopsError as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        _exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        _exit(EXIT_ERROR)
    except click.ClickException as e:
        e.show()
        _exit(EXIT_ERROR)
    _exit(rc if isinstance(rc, int) else 0)


def _run_lua_in_a_worker() -> None:
    """Health scripts run in a worker process the commands can kill or lose (luaworker.py); it starts
    only when a first script runs."""
    from kubectl_gitops import lua
    from kubectl_gitops.luaworker import Worker

    lua.use(Worker())


def _exit(code: int) -> NoReturn:
    """Flush and leave without the interpreter's teardown: freeing everything a large run allocated,
    object by object, takes ~45 ms (at 1,000 objects) and nothing needs it: thread pools, the lease
    renewer and temporary files are all closed by then."""
    for stream in (sys.stdout, sys.stderr):
        # The reader may have gone away (`| head`), or the stream been closed.
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


def subcommand(name: str) -> Callable[[], Any]:
    """Entry point for `kubectl-gitops-<name>`, which kubectl prefers for `kubectl gitops <name>`."""

    def entry() -> None:
        command = main.get_command(click.Context(main), name)
        assert command is not None, name
        run(command, prog_name=f"kubectl gitops {name}")

    return entry
