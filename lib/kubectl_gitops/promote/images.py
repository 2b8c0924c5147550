"""Kustomize `images:` entries: reading them from an overlay, naming them, and parsing CLI specs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.edit import Path
from kubectl_gitops.promote.pins import Kind, Pin

try:
    from yaml import CBaseLoader as BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import BaseLoader  # type: ignore[assignment]

# The three fields promotion copies, as spelled in kustomization.yaml.
FIELDS = ("newName", "newTag", "digest")
LATEST = "latest"

# OCI distribution-spec grammar for tags and digests.
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_LONG_DIGEST = re.compile(r"(@[a-z0-9]+:)([a-zA-Z0-9=_-]{13,})")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")


@dataclass(frozen=True)
class ImageEntry:
    """One `images:` entry; values are the text written in the file, which is what kustomize reads."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    @property
    def pin(self) -> tuple[str | None, str | None, str | None]:
        """What promotion copies: equal pins mean the same image runs."""
        return (self.new_name, self.new_tag, self.digest)

    def fields(self) -> dict[str, str | None]:
        return dict(zip(FIELDS, self.pin, strict=True))

    @property
    def label(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        """The image a container ends up with, e.g. registry/app:1.2.0 or registry/app@sha256:…"""
        return (self.new_name or self.name) + self._suffix(short=False)

    def version(self, *, short: bool = True) -> str:
        """The pin without the image name, for tables and commit subjects: 1.2.0, @sha256:0123…"""
        if self.new_name:
            return self.new_name + self._suffix(short=short)
        return self._suffix(short=short).removeprefix(":") or "(untagged)"

    def _suffix(self, *, short: bool) -> str:
        suffix = f":{self.new_tag}" if self.new_tag else ""
        if self.digest:
            suffix += f"@{self.digest}"
        return shorten_digests(suffix) if short else suffix

    @property
    def unpinned_reason(self) -> str | None:
        """Why this entry does not name one fixed image, or None when it does."""
        if self.digest:
            return None
        if not self.new_tag:
            return "has no tag or digest"
        return "is tagged latest" if self.new_tag == LATEST else None


def shorten_digests(text: str) -> str:
    """`1.0@sha256:0123456789abcdef…` as `1.0@sha256:0123456789ab`, for tables and subjects."""
    return _LONG_DIGEST.sub(lambda m: m[1] + m[2][:12], text)


def read_images(text: str | bytes, source: str) -> list[ImageEntry]:
    """The `images:` entries of a kustomization file. Scalars are read as written (1.10 stays "1.10")."""
    try:
        doc = yaml.load(text, Loader=BaseLoader)
    except yaml.YAMLError as e:
        raise GitopsError(f"{source}: invalid YAML: {e}") from None
    return _images(doc, source)


def _images(doc: object, source: str) -> list[ImageEntry]:
    if doc is None or doc == "":
        return []
    if not isinstance(doc, dict):
        raise GitopsError(f"{source}: expected a Kustomization mapping")
    raw = doc.get("images")
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise GitopsError(f"{source}: images: must be a list")
    entries = [_entry(item, i, source) for i, item in enumerate(raw)]
    names = [e.name for e in entries]
    for name in names:
        if names.count(name) > 1:
            raise GitopsError(f"{source}: image {name} is listed twice under images:")
    return entries


def _entry(item: object, index: int, source: str) -> ImageEntry:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise GitopsError(f"{source}: images[{index}] needs a name")
    values: list[str | None] = []
    for field in FIELDS:
        value = item.get(field)
        if value is not None and not isinstance(value, str):
            raise GitopsError(f"{source}: images[{index}].{field} must be a string")
        values.append(value or None)
    return ImageEntry(item["name"], *values)


class KustomizeImages:
    """`images:` of a kustomization file: newName/newTag/digest per image name."""

    kind = Kind.IMAGE

    def read(self, docs: list[Any], source: str) -> tuple[Pin, ...]:
        return tuple(_images(docs[0] if docs else None, source))

    def changes(self, docs: list[Any], old: Pin | None, new: Pin) -> dict[Path, str | None]:
        entries = docs[0].get("images") if docs and isinstance(docs[0], dict) else None
        entries = entries if isinstance(entries, list) else []
        at = next((i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == new.name),
                  None)
        changes: dict[Path, str | None] = {}
        if at is None:
            at = len(entries)
            changes[(0, "images", at, "name")] = new.name
        for key, value in new.fields().items():
            if value is not None or (old is not None and old.fields().get(key) is not None):
                changes[(0, "images", at, key)] = value
        return changes

    def matches(self, pin: Pin, wanted: str) -> bool:
        return matches(pin.name, wanted)

    def pinned(self, docs: list[Any], pin: Pin, tag: str | None, digest: str | None) -> Pin:
        assert isinstance(pin, ImageEntry)
        return ImageEntry(pin.name, pin.new_name, tag, digest)


def matches(name: str, wanted: str) -> bool:
    """`--image api` selects registry.invalid/platform/api: the full name or its last path segment."""
    return wanted in (name, name.rsplit("/", 1)[-1])


def parse_spec(spec: str) -> ImageEntry:
    """`NAME=TAG`, `NAME@DIGEST` or `NAME=TAG@DIGEST`, as given to `git promote set-image`."""
    if "=" in spec:
        name, _, pin = spec.partition("=")
        tag, _, digest = pin.partition("@")
    else:
        name, _, digest = spec.partition("@")
        tag = ""
    if not name or not (tag or digest):
        raise GitopsError(f"invalid image {spec!r}: expected NAME=TAG or NAME@DIGEST")
    if tag and not _TAG.fullmatch(tag):
        raise GitopsError(f"invalid image {spec!r}: {tag!r} is not a valid tag")
    if digest and not _DIGEST.fullmatch(digest):
        raise GitopsError(f"invalid image {spec!r}: {digest!r} is not a digest like sha256:<hex>")
    return ImageEntry(name, None, tag or None, digest or None)
