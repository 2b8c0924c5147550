"""Commit messages `git promote` writes, and the trailers that `status` and `undo` read back.

Every commit carries `Promoted-To: <env>` and one `Image: <reference>` per image it set (or
`Revision: <chart or repository>@<revision>` per Application source); a promotion
adds `Promoted-From: <env>`, an undo adds `Reverts: <commit>`. The trailers form the message's last
paragraph, so `git log --format='%(trailers)'` and `git interpret-trailers` see them too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kubectl_gitops.promote.appsource import SourceRevision
from kubectl_gitops.promote.plan import Change, FileEdit

TRAILER_FROM = "Promoted-From"
TRAILER_TO = "Promoted-To"
TRAILER_IMAGE = "Image"
TRAILER_REVERTS = "Reverts"
TRAILER_REVISION = "Revision"
_TRAILER = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*): (.+)")


@dataclass(frozen=True)
class Record:
    """What a `git promote` commit says about itself."""

    env: str
    source: str | None  # the environment promoted from; None for set-image and undo
    reverts: str | None  # the commit an undo reverted
    images: tuple[str, ...]

    @property
    def kind(self) -> str:
        if self.reverts:
            return "undo"
        return "promote" if self.source else "set-image"


def trailers(message: str) -> list[tuple[str, str]]:
    """Key/value pairs of the trailer block: a last paragraph made only of `Key: value` lines."""
    paragraphs = message.strip().split("\n\n")
    if len(paragraphs) < 2:
        return []
    found = [_TRAILER.fullmatch(line) for line in paragraphs[-1].splitlines()]
    return [(m[1], m[2].strip()) for m in found if m] if all(found) else []


def read_record(message: str) -> Record | None:
    pairs = trailers(message)
    values = {key: value for key, value in pairs}
    if TRAILER_TO not in values:
        return None
    return Record(values[TRAILER_TO], values.get(TRAILER_FROM), values.get(TRAILER_REVERTS),
                  tuple(value for key, value in pairs if key == TRAILER_IMAGE))


def promotion(source: str, target: str, edits: Sequence[FileEdit]) -> str:
    return _message(f"promote {source} → {target}: {_summary(edits)}", edits,
                    [(TRAILER_FROM, source), (TRAILER_TO, target)])


def set_image(env: str, edits: Sequence[FileEdit]) -> str:
    return _message(f"set-image {env}: {_summary(edits)}", edits, [(TRAILER_TO, env)])


def undo(env: str, reverted_id: str, reverted_subject: str, edits: Sequence[FileEdit]) -> str:
    # Worded like `git revert`, so the history reads the same whichever tool made it.
    return _message(f'Revert "{reverted_subject}"', edits,
                    [(TRAILER_TO, env), (TRAILER_REVERTS, reverted_id)],
                    intro=f"This reverts commit {reverted_id}.")


def _summary(edits: Sequence[FileEdit]) -> str:
    """`api 1.2.0, web 1.2.0`: each service with the distinct versions it now runs."""
    versions: dict[str, list[str]] = {}
    for change in (c for e in edits for c in e.changes):
        label = change.new.version() if change.new else "(removed)"
        if label not in versions.setdefault(change.label, []):
            versions[change.label].append(label)
    return ", ".join(f"{service} {'/'.join(labels)}" for service, labels in versions.items())


def _message(subject: str, edits: Sequence[FileEdit], head: list[tuple[str, str]], *,
             intro: str | None = None) -> str:
    body = [intro, ""] if intro else []
    for e in edits:
        body.append(f"{e.path}:")
        body.extend(f"  {_describe(c)}" for c in e.changes)
    images = [(TRAILER_REVISION if isinstance(c.new, SourceRevision) else TRAILER_IMAGE, c.new.reference)
              for e in edits for c in e.changes if c.new]
    block = "\n".join(f"{key}: {value}" for key, value in [*head, *images])
    return f"{subject}\n\n" + "\n".join(body) + f"\n\n{block}\n"


def _describe(change: Change) -> str:
    old = change.old.version(short=False) if change.old else "(none)"
    new = change.new.version(short=False) if change.new else "(removed)"
    return f"{change.name}: {old} → {new}"
