"""`git promote status`: services × environments with each image's pin, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import click
from tabulate import tabulate

from kubectl_gitops.promote.images import ImageEntry
from kubectl_gitops.promote.plan import OverlayImages

BEHIND_MARK = "*"


@dataclass(frozen=True)
class Cell:
    entry: ImageEntry | None  # None: the overlay does not pin this image (or does not exist)
    behind: bool  # differs from the environment before it, so promoting would change it


@dataclass(frozen=True)
class Row:
    service: str
    image: str
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


def build_rows(environments: Sequence[str], overlays: Sequence[OverlayImages]) -> tuple[Row, ...]:
    rows = []
    for service in sorted({o.overlay.service for o in overlays}):
        per_env = {o.overlay.env: o for o in overlays if o.overlay.service == service}
        names = list(dict.fromkeys(e.name for env in environments if env in per_env
                                   for e in per_env[env].images))
        for name in names:
            entries = [per_env[env].find(name) if env in per_env else None for env in environments]
            rows.append(Row(service, name, tuple(Cell(entry, _behind(entries, i))
                                                 for i, entry in enumerate(entries))))
    return tuple(rows)


def _behind(entries: Sequence[ImageEntry | None], i: int) -> bool:
    before, current = (entries[i - 1] if i > 0 else None), entries[i]
    if before is None:
        return False
    return current is None or current.pin != before.pin


def render_table(status: Status) -> str:
    """The table, with ANSI colour that click.echo strips when colour is off."""
    headers = ["SERVICE", "IMAGE", *status.environments]
    table = [[row.service, row.image, *(_cell(c) for c in row.cells)] for row in status.rows]
    text = tabulate(table, headers=headers, tablefmt="plain", disable_numparse=True)
    if any(c.behind for row in status.rows for c in row.cells):
        text += (f"\n\n{BEHIND_MARK} behind the environment before it: "
                 "`git promote ENV` would change it")
    if status.last_changes:
        changes = [[c.env, c.commit[:7], c.time.strftime("%Y-%m-%d %H:%M %z"), c.subject]
                   for c in status.last_changes]
        text += "\n\n" + tabulate(changes, headers=["ENV", "COMMIT", "DATE", "LAST CHANGE"],
                                  tablefmt="plain", disable_numparse=True)
    return text


def _cell(cell: Cell) -> str:
    text = cell.entry.version() if cell.entry else "-"
    # tabulate measures width without ANSI codes, so colouring keeps the columns aligned.
    return click.style(f"{text} {BEHIND_MARK}", fg="yellow") if cell.behind else text


def render_json(status: Status) -> str:
    return json.dumps({
        "environments": list(status.environments),
        "services": [
            {"service": row.service, "image": row.image,
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
