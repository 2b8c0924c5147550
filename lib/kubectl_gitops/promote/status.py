"""`git promote status`: services × environments with each pin (image, chart version, revision), as a
table or JSON, and the layout it was read from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import click
from tabulate import tabulate

from kubectl_gitops.promote.pins import Kind, Pin
from kubectl_gitops.promote.plan import PinnedFile

BEHIND_MARK = "*"


@dataclass(frozen=True)
class Cell:
    entry: Pin | None  # None: the environment does not pin this (or has no files)
    behind: bool  # differs from the environment before it, so promoting would change it


@dataclass(frozen=True)
class Row:
    service: str
    kind: Kind
    image: str  # the image, chart or repository, as the first environment that has it names it
    cells: tuple[Cell, ...]  # one per environment, in promotion order


@dataclass(frozen=True)
class LastChange:
    """The newest `git promote` commit for one environment."""

    env: str
    commit: str
    kind: str  # promote, set-image or undo
    source: str | None
    subject: str
    time: datetime


@dataclass(frozen=True)
class Status:
    environments: tuple[str, ...]
    rows: tuple[Row, ...]
    last_changes: tuple[LastChange, ...]
    layout: str


def build_rows(environments: Sequence[str], files: Sequence[PinnedFile]) -> tuple[Row, ...]:
    rows = []
    for service in sorted({f.target.service for f in files}):
        per_env: dict[str, dict[tuple[Kind, str], Pin]] = {}
        for f in (f for f in files if f.target.service == service):
            per_env.setdefault(f.target.env, {}).update({(f.file.kind, p.name): p for p in f.pins})
        keys = list(dict.fromkeys(k for env in environments for k in per_env.get(env, {})))
        for kind, name in keys:
            entries = [per_env.get(env, {}).get((kind, name)) for env in environments]
            shown = next(e for e in entries if e is not None)
            rows.append(Row(service, kind, shown.title, tuple(
                Cell(entry, _behind(entries, i)) for i, entry in enumerate(entries))))
    return tuple(rows)


def _behind(entries: Sequence[Pin | None], i: int) -> bool:
    before, current = (entries[i - 1] if i > 0 else None), entries[i]
    if before is None:
        return False
    return current is None or current.pin != before.pin


def render_table(status: Status) -> str:
    """The table, with ANSI colour that click.echo strips when colour is off."""
    one_app = all(not row.service for row in status.rows)  # no service column in a one-app repository
    headers = [*([] if one_app else ["SERVICE"]), "IMAGE", *status.environments]
    table = [[*([] if one_app else [row.service]), row.image, *(_cell(c) for c in row.cells)]
             for row in status.rows]
    text = tabulate(table, headers=headers, tablefmt="plain", disable_numparse=True)
    if any(c.behind for row in status.rows for c in row.cells):
        text += (f"\n\n{BEHIND_MARK} behind the environment before it: "
                 "`git promote ENV` would change it")
    if status.last_changes:
        changes = [[c.env, c.commit[:7], c.time.strftime("%Y-%m-%d %H:%M %z"), c.subject]
                   for c in status.last_changes]
        text += "\n\n" + tabulate(changes, headers=["ENV", "COMMIT", "DATE", "LAST CHANGE"],
                                  tablefmt="plain", disable_numparse=True)
    return text + f"\n\nlayout: {status.layout}"


def _cell(cell: Cell) -> str:
    text = cell.entry.version() if cell.entry else "-"
    # tabulate measures width without ANSI codes, so colouring keeps the columns aligned.
    return click.style(f"{text} {BEHIND_MARK}", fg="yellow") if cell.behind else text


def render_json(status: Status) -> str:
    return json.dumps({
        "layout": status.layout,
        "environments": list(status.environments),
        "services": [
            {"service": row.service or None, "kind": row.kind.value, "image": row.image,
             "environments": {env: _cell_json(cell) for env, cell in zip(status.environments, row.cells,
                                                                           strict=True)}}
            for row in status.rows],
        "lastChanges": {c.env: {"commit": c.commit, "kind": c.kind, "from": c.source,
                                "subject": c.subject, "date": c.time.isoformat()}
                        for c in status.last_changes},
    }, indent=2, ensure_ascii=False)


def _cell_json(cell: Cell) -> dict[str, object] | None:
    if cell.entry is None:
        return None
    return {**cell.entry.fields(), "image": cell.entry.reference, "behind": cell.behind}
