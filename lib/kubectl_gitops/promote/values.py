"""Image blocks of Helm values files: `image.tag` / `image.repository` (and `registry`, `digest`) under
each configured key, e.g. `image` or `api.image`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.edit import Path
from kubectl_gitops.promote.images import LATEST, matches, shorten_digests
from kubectl_gitops.promote.pins import Kind, Pin

# Keys of an image block, as most charts spell them (bitnami adds registry and digest).
FIELDS = ("registry", "repository", "tag", "digest")
DEFAULT_KEYS = ("image",)


@dataclass(frozen=True)
class ValuesImage:
    """One image block; `name` is its key path in the values, e.g. api.image."""

    name: str
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def pin(self) -> tuple[str | None, ...]:
        return (self.registry, self.repository, self.tag, self.digest)

    def fields(self) -> dict[str, str | None]:
        return dict(zip(FIELDS, self.pin, strict=True))

    @property
    def image(self) -> str:
        return "/".join(p for p in (self.registry, self.repository) if p) or self.name

    @property
    def title(self) -> str:
        return self.image

    @property
    def label(self) -> str:
        return self.image.rsplit("/", 1)[-1]

    @property
    def reference(self) -> str:
        return self.image + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def version(self, *, short: bool = True) -> str:
        text = (self.tag or "") + (f"@{self.digest}" if self.digest else "")  # or TAG@DIGEST in tag
        return (shorten_digests(text) if short else text) or "(untagged)"

    @property
    def unpinned_reason(self) -> str | None:
        if self.digest or "@" in (self.tag or ""):
            return None
        if not self.tag:
            return "has no tag or digest"
        return "is tagged latest" if self.tag == LATEST else None

    def with_version(self, tag: str | None, digest: str | None, *, digest_key: bool) -> ValuesImage:
        """This block set to TAG and/or DIGEST (set-image); without a digest key the digest goes into
        the tag as TAG@DIGEST, the form charts that template `repository:tag` accept."""
        if digest and not digest_key:
            if not tag:
                raise GitopsError(f"values {self.name} has no digest key, so a digest alone cannot be set",
                                  hint=f"give NAME=TAG@{digest}, or add {self.name}.digest if the chart reads it")
            return ValuesImage(self.name, self.registry, self.repository, f"{tag}@{digest}", None)
        return ValuesImage(self.name, self.registry, self.repository, tag, digest)


class HelmValues:
    """A values file: one pin per configured image key that the file sets."""

    kind = Kind.VALUES

    def __init__(self, keys: tuple[str, ...] = DEFAULT_KEYS) -> None:
        self.keys = keys

    def read(self, docs: list[Any], source: str) -> tuple[Pin, ...]:
        doc = docs[0] if docs else None
        if doc in (None, ""):
            return ()
        if not isinstance(doc, dict):
            raise GitopsError(f"{source}: expected Helm values (a mapping)")
        pins: list[Pin] = []
        for key in self.keys:
            block = _get(doc, key)
            if block is None:
                continue
            if not isinstance(block, dict):
                raise GitopsError(f"{source}: {key} must be a mapping with repository: and tag:")
            values = [block.get(f) for f in FIELDS]
            for field, value in zip(FIELDS, values, strict=True):
                if value is not None and not isinstance(value, str):
                    raise GitopsError(f"{source}: {key}.{field} must be a string")
            if any(values):
                pins.append(ValuesImage(key, *(v or None for v in values)))
        return tuple(pins)

    def changes(self, docs: list[Any], old: Pin | None, new: Pin) -> dict[Path, str | None]:
        block: Path = (0, *new.name.split("."))
        old_fields = old.fields() if old else {}
        return {(*block, k): v for k, v in new.fields().items() if v is not None or old_fields.get(k) is not None}

    def matches(self, pin: Pin, wanted: str) -> bool:
        assert isinstance(pin, ValuesImage)
        return wanted == pin.name or matches(pin.image, wanted) or bool(pin.repository and
                                                                        matches(pin.repository, wanted))


    def pinned(self, docs: list[Any], pin: Pin, tag: str | None, digest: str | None) -> Pin:
        assert isinstance(pin, ValuesImage)
        return pin.with_version(tag, digest, digest_key=has_digest_key(docs, pin.name))


def _get(doc: dict[str, Any], key: str) -> Any:
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def has_digest_key(docs: list[Any], key: str) -> bool:
    block = _get(docs[0], key) if docs and isinstance(docs[0], dict) else None
    return isinstance(block, dict) and "digest" in block
