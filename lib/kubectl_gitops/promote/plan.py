"""Deciding what changes: pure functions from pin files as read at HEAD to per-file edits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote import edit
from kubectl_gitops.promote.appsource import Applications
from kubectl_gitops.promote.images import ImageEntry, KustomizeImages
from kubectl_gitops.promote.layout import Target
from kubectl_gitops.promote.pins import Format, Kind, Pin, PinFile
from kubectl_gitops.promote.values import HelmValues

KIND_NAMES = {Kind.IMAGE: "kustomization", Kind.VALUES: "Helm values file", Kind.REVISION: "Application"}


def formats(image_keys: tuple[str, ...]) -> dict[Kind, Format]:
    return {Kind.IMAGE: KustomizeImages(), Kind.VALUES: HelmValues(image_keys), Kind.REVISION: Applications()}


@dataclass(frozen=True)
class PinnedFile:
    """One pin file of a target as committed, parsed, with its pins."""

    target: Target
    file: PinFile
    format: Format
    text: str
    docs: list[Any]
    pins: tuple[Pin, ...]

    @classmethod
    def parse(cls, target: Target, file: PinFile, fmt: Format, data: bytes) -> PinnedFile:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise GitopsError(f"{file.path}: not UTF-8 text") from None
        docs = edit.load_plain(text, file.path)
        return cls(target, file, fmt, text, docs, fmt.read(docs, file.path))

    @property
    def path(self) -> str:
        return self.file.path

    def find(self, name: str) -> Pin | None:
        return next((p for p in self.pins if p.name == name), None)


@dataclass(frozen=True)
class Change:
    """One pin of one file, before and after (None: absent)."""

    service: str
    path: str
    old: Pin | None
    new: Pin | None

    @property
    def name(self) -> str:
        pin = self.new or self.old
        assert pin is not None
        return pin.name

    @property
    def label(self) -> str:
        """Who the change is about in a subject: the service, or in a one-app repository the image."""
        pin = self.new or self.old
        assert pin is not None
        return self.service or pin.label


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Planned:
    changes: list[Change]
    notes: list[str]  # pins that have nowhere to go in the target


def promotion_changes(source: Sequence[PinnedFile], target: Sequence[PinnedFile], images: Sequence[str], *,
                      allow_latest: bool) -> Planned:
    """Copy each (selected) pin of the source environment's files onto the target's files."""
    wanted: dict[tuple[Kind, str], tuple[PinnedFile, Pin]] = {}
    for f in source:  # a later file overrides an earlier one, as Helm merges value files
        for pin in f.pins:
            if not images or any(f.format.matches(pin, w) for w in images):
                wanted[(f.file.kind, pin.name)] = (f, pin)
    planned = Planned([], [])
    for (kind, name), (src, pin) in wanted.items():
        mine = [f for f in target if f.file.kind == kind]
        home = next((f for f in reversed(mine) if f.find(name)), mine[-1] if mine else None)
        old = home.find(name) if home else None
        if old is not None and old.pin == pin.pin:
            continue
        if home is None or (old is None and kind is Kind.REVISION):
            why = f"{home.path} has no such source" if home else f"the target has no {KIND_NAMES[kind]}"
            planned.notes.append(f"note: {name} of {src.path} is not promoted: {why}")
            continue
        reason = pin.unpinned_reason
        if reason and not allow_latest:
            raise GitopsError(f"{src.target.env}: {_what(kind)} {name} {reason} in {src.path}; "
                              "promoting it would not pin a version",
                              hint="pin a tag or digest there, or pass --allow-latest")
        planned.changes.append(Change(home.target.service, home.path, old, pin))
    return planned


def set_image_changes(targets: Sequence[PinnedFile], spec: ImageEntry, *, add: bool,
                      allow_latest: bool) -> list[Change]:
    """Set one image's tag/digest (or a source's revision) wherever it is pinned; keep the rest of
    the pin (newName, repository); add a Kustomize entry only when `add`."""
    if spec.unpinned_reason and not allow_latest:
        raise GitopsError(f"image {spec.name} {spec.unpinned_reason}; that would not pin a version",
                          hint="give a version tag or a digest, or pass --allow-latest")
    changes = []
    for f in targets:
        for old in (p for p in f.pins if f.format.matches(p, spec.name)):
            new = f.format.pinned(f.docs, old, spec.new_tag, spec.digest)
            if new.pin != old.pin:
                changes.append(Change(f.target.service, f.path, old, new))
    found = any(f.format.matches(p, spec.name) for f in targets for p in f.pins)
    if not found and add:
        home = next((f for f in targets if f.file.kind is Kind.IMAGE), None)
        if home is None:
            raise GitopsError(f"no kustomization to add image {spec.name} to",
                              hint="add it to the Helm values or Application by hand once")
        changes.append(Change(home.target.service, home.path, None, spec))
    return changes


def pin_changes(f: PinnedFile, after: str) -> tuple[Change, ...]:
    """What differs between a file's pins and those of another version of it (to describe an undo)."""
    old = {p.name: p for p in f.pins}
    new = {p.name: p for p in f.format.read(edit.load_plain(after, f.path), f.path)}
    return tuple(Change(f.target.service, f.path, old.get(name), new.get(name))
                 for name in [*old, *(n for n in new if n not in old)]
                 if (old[name].pin if name in old else None) != (new[name].pin if name in new else None))


def edits_for(files: Sequence[PinnedFile], changes: Sequence[Change]) -> list[FileEdit]:
    """One edit per file that has changes, made with the round-trip editor."""
    edits = []
    for f in files:
        mine = tuple(c for c in changes if c.path == f.path)
        if mine:
            paths: dict[edit.Path, str | None] = {}
            docs = f.docs
            for c in mine:  # each on the documents as the changes before it left them (appends)
                assert c.new is not None
                step = f.format.changes(docs, c.old, c.new)
                paths.update(step)
                docs = edit.apply_plain(docs, step)
            edits.append(FileEdit(f.path, f.text, edit.update(f.text, f.path, paths), mine))
    return edits


def _what(kind: Kind) -> str:
    return "source" if kind is Kind.REVISION else "image"
