"""What `git promote` moves between environments: pins, the files that hold them, and one format per
kind of file (Kustomize `images:`, Helm values, Argo CD Application sources).

A pin is one promotable value set (an image's name/tag/digest, a source's targetRevision), named so
that the same pin can be found in another environment's files. Formats are pure: parsed YAML in,
pins or path edits out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.edit import Path


class Kind(enum.Enum):
    IMAGE = "image"  # a Kustomize images: entry
    VALUES = "values"  # an image block of a Helm values file
    REVISION = "revision"  # an Argo CD Application source's targetRevision (a chart version for charts)


class Pin(Protocol):
    """One pinned thing; equal `pin` tuples run the same thing."""

    @property
    def name(self) -> str: ...  # finds the same pin in another environment

    @property
    def pin(self) -> tuple[str | None, ...]: ...  # what promotion copies

    @property
    def label(self) -> str: ...  # short name for commit subjects: api, my-chart

    @property
    def title(self) -> str: ...  # what `status` shows: the image or chart

    @property
    def reference(self) -> str: ...  # full, for trailers and JSON: registry/api:1.2.0, my-chart 1.4.0

    @property
    def unpinned_reason(self) -> str | None: ...  # why it does not name one fixed version

    def fields(self) -> dict[str, str | None]: ...  # the pin as the file spells its keys

    def version(self, *, short: bool = True) -> str: ...  # for tables and subjects: 1.2.0, @sha256:0123…


@dataclass(frozen=True)
class PinFile:
    """A file of one environment that holds pins."""

    path: str  # relative to the repository root
    kind: Kind


class Format(Protocol):
    """Reads the pins of one kind of file and says which paths an update writes."""

    kind: Kind

    def read(self, docs: list[Any], source: str) -> tuple[Pin, ...]: ...

    def changes(self, docs: list[Any], old: Pin | None, new: Pin) -> dict[Path, str | None]: ...

    def matches(self, pin: Pin, wanted: str) -> bool: ...  # --image / set-image NAME

    def pinned(self, docs: list[Any], pin: Pin, tag: str | None, digest: str | None) -> Pin: ...  # set-image


def check_unique(pins: tuple[Pin, ...], source: str, what: str) -> tuple[Pin, ...]:
    """`pins`, refusing two with one name: which one to promote would be a guess."""
    names = [p.name for p in pins]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise GitopsError(f"{source}: {what} {twice} is listed twice")
    return pins
