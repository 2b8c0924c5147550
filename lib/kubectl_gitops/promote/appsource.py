"""Argo CD Application files: the targetRevision of each source in spec.source / spec.sources[] (for a
Helm chart source, the chart version), and the Helm value files a source names."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.edit import Path
from kubectl_gitops.promote.images import matches
from kubectl_gitops.promote.pins import Kind, Pin, check_unique

API_GROUP = "argoproj.io/"
_RANGE_CHARS = set("*^~<>| ")


@dataclass(frozen=True)
class SourceRevision:
    """One source's targetRevision; `name` is the chart, else the repository URL."""

    name: str
    revision: str | None
    where: Path  # the source mapping in its file: (document, "spec", "source") or (..., "sources", i)

    @property
    def pin(self) -> tuple[str | None, ...]:
        return (self.revision,)

    def fields(self) -> dict[str, str | None]:
        return {"targetRevision": self.revision}

    @property
    def label(self) -> str:
        return self.name.rsplit("/", 1)[-1].removesuffix(".git")

    @property
    def title(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        return f"{self.name}@{self.revision or 'HEAD'}"

    def version(self, *, short: bool = True) -> str:
        return self.revision or "HEAD"

    @property
    def unpinned_reason(self) -> str | None:
        if self.revision in (None, "HEAD"):
            return "tracks HEAD"
        assert self.revision is not None
        if _RANGE_CHARS & set(self.revision) or self.revision.endswith(".x"):
            return f"is a version range ({self.revision})"
        return None


def is_application(doc: object) -> bool:
    return (isinstance(doc, dict) and doc.get("kind") == "Application"
            and str(doc.get("apiVersion", "")).startswith(API_GROUP))


def sources(doc: dict[str, Any], index: int, source: str) -> list[tuple[Path, dict[str, Any]]]:
    """(where, source mapping) of one Application document, refusing ill-typed fields."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise GitopsError(f"{source}: spec must be a mapping")
    found: list[tuple[Path, dict[str, Any]]] = []
    if spec.get("source") not in (None, ""):
        found.append(((index, "spec", "source"), spec["source"]))
    many = spec.get("sources")
    if many not in (None, ""):
        if not isinstance(many, list):
            raise GitopsError(f"{source}: spec.sources must be a list")
        found += [((index, "spec", "sources", i), s) for i, s in enumerate(many)]
    for where, src in found:
        if not isinstance(src, dict):
            raise GitopsError(f"{source}: {_spell(where)} must be a mapping")
        for key in ("repoURL", "chart", "path", "targetRevision", "ref"):
            if src.get(key) is not None and not isinstance(src[key], str):
                raise GitopsError(f"{source}: {_spell(where)}.{key} must be a string")
    return found


class Applications:
    """The Applications of a file: one pin per source."""

    kind = Kind.REVISION

    def read(self, docs: list[Any], source: str) -> tuple[Pin, ...]:
        apps = [(i, d) for i, d in enumerate(docs) if is_application(d)]
        pins: list[Pin] = []
        for index, doc in apps:
            found = sources(doc, index, source)
            bases = [s.get("chart") or _repo(s.get("repoURL", "")) for _, s in found]
            for (where, src), base in zip(found, bases, strict=True):
                # one repository used twice (a path and a $values ref): told apart by path or ref
                name = base if bases.count(base) == 1 else f"{base} {src.get('path') or '$' + str(src.get('ref'))}"
                if len(apps) > 1:
                    name = f"{doc.get('metadata', {}).get('name', index)}: {name}"
                pins.append(SourceRevision(name, src.get("targetRevision") or None, where))
        return check_unique(tuple(pins), source, "Application source")

    def changes(self, docs: list[Any], old: Pin | None, new: Pin) -> dict[Path, str | None]:
        """Only a source the file already has can be changed: where to add another is not ours to guess."""
        if not isinstance(old, SourceRevision):
            return {}
        return {(*old.where, "targetRevision"): new.fields()["targetRevision"]}

    def matches(self, pin: Pin, wanted: str) -> bool:
        return matches(pin.name, wanted) or wanted == pin.label

    def pinned(self, docs: list[Any], pin: Pin, tag: str | None, digest: str | None) -> Pin:
        assert isinstance(pin, SourceRevision)
        if digest or not tag:
            raise GitopsError(f"{pin.name} is an Application source: give NAME=REVISION, not a digest")
        return SourceRevision(pin.name, tag, pin.where)


def value_files(docs: list[Any], source: str) -> list[str]:
    """Repository paths of the Helm value files the Applications' sources name, for sources whose
    path (or `$ref`) points into this repository: `path/values-prod.yaml`, `$values/envs/prod.yaml`."""
    paths: list[str] = []
    for index, doc in enumerate(docs):
        if not is_application(doc):
            continue
        found = [s for _, s in sources(doc, index, source)]
        refs = {s["ref"]: s for s in found if s.get("ref")}
        for src in found:
            helm = src.get("helm") or {}
            files = helm.get("valueFiles") if isinstance(helm, dict) else None
            if not isinstance(files, list):
                continue
            for file in (f for f in files if isinstance(f, str)):
                ref, _, rest = file.partition("/")
                if file.startswith("$"):
                    if ref[1:] in refs:
                        paths.append(posixpath.normpath(rest))
                elif src.get("path") is not None:
                    paths.append(posixpath.normpath(posixpath.join(src["path"], file)))
    return [p for p in paths if not p.startswith("../") and p != ".."]


def _repo(url: str) -> str:
    return url.rstrip("/").removesuffix(".git")


def _spell(where: Path) -> str:
    return "spec.source" if len(where) == 3 else f"spec.sources[{where[3]}]"
