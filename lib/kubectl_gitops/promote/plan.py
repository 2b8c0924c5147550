"""Deciding what changes: pure functions from overlays as read at HEAD to per-file edits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote import edit
from kubectl_gitops.promote.images import ImageEntry, matches, read_images
from kubectl_gitops.promote.layout import Overlay


@dataclass(frozen=True)
class OverlayImages:
    """An overlay's kustomization file as committed, with its `images:` entries."""

    overlay: Overlay
    text: str
    images: tuple[ImageEntry, ...]

    @classmethod
    def parse(cls, overlay: Overlay, data: bytes) -> OverlayImages:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise GitopsError(f"{overlay.path}: not UTF-8 text") from None
        return cls(overlay, text, tuple(read_images(text, overlay.path)))

    def find(self, name: str) -> ImageEntry | None:
        return next((e for e in self.images if e.name == name), None)


@dataclass(frozen=True)
class Change:
    """One image entry of one overlay file, before and after (None: absent)."""

    service: str
    path: str
    old: ImageEntry | None
    new: ImageEntry | None

    @property
    def name(self) -> str:
        entry = self.new or self.old
        assert entry is not None
        return entry.name


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    changes: tuple[Change, ...]


def promotion_changes(source: OverlayImages, target: OverlayImages, images: Sequence[str], *,
                      allow_latest: bool) -> list[Change]:
    """Copy newName/newTag/digest of each (selected) source image onto the target overlay."""
    changes = []
    for entry in source.images:
        if images and not any(matches(entry.name, wanted) for wanted in images):
            continue
        old = target.find(entry.name)
        if old is not None and old.pin == entry.pin:
            continue
        reason = entry.unpinned_reason
        if reason and not allow_latest:
            raise GitopsError(f"{source.overlay.env}: image {entry.name} {reason} in {source.overlay.path}; "
                              "promoting it would not pin a version",
                              hint="pin a tag or digest there, or pass --allow-latest")
        changes.append(Change(target.overlay.service, target.overlay.path, old, entry))
    return changes


def set_image_changes(target: OverlayImages, spec: ImageEntry, *, add: bool,
                      allow_latest: bool) -> list[Change]:
    """Set one image's tag/digest in an overlay; keep its newName; add the entry only when `add`."""
    if spec.unpinned_reason and not allow_latest:
        raise GitopsError(f"image {spec.name} {spec.unpinned_reason}; that would not pin a version",
                          hint="give a version tag or a digest, or pass --allow-latest")
    service, path = target.overlay.service, target.overlay.path
    found = [e for e in target.images if matches(e.name, spec.name)]
    if not found and add:
        return [Change(service, path, None, spec)]
    updated = [(old, ImageEntry(old.name, old.new_name, spec.new_tag, spec.digest)) for old in found]
    return [Change(service, path, old, new) for old, new in updated if new.pin != old.pin]


def image_changes(overlay: Overlay, before: str, after: str) -> tuple[Change, ...]:
    """What differs between two versions of an overlay's images (used to describe an undo)."""
    old = {e.name: e for e in read_images(before, overlay.path)}
    new = {e.name: e for e in read_images(after, overlay.path)}
    return tuple(Change(overlay.service, overlay.path, old.get(name), new.get(name))
                 for name in [*old, *(n for n in new if n not in old)]
                 if old.get(name) != new.get(name))


def edits_for(targets: Sequence[OverlayImages], changes: Sequence[Change]) -> list[FileEdit]:
    """One edit per target file that has changes, made with the round-trip editor."""
    edits = []
    for target in targets:
        mine = tuple(c for c in changes if c.path == target.overlay.path)
        if mine:
            updates = [c.new for c in mine if c.new is not None]
            edits.append(FileEdit(target.overlay.path, target.text,
                                  edit.set_images(target.text, target.overlay.path, updates), mine))
    return edits
