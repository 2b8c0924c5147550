"""`source.kustomize` options as a kustomization that wraps the app's own.

Argo CD runs `kustomize edit set image|nameprefix|namesuffix|namespace|replicas`, `edit add label|
annotation|component` and appends `patches` in a copy of the app's kustomization. We write those same
settings into a new kustomization in a temporary directory whose one resource is the app's directory
(by a relative path, which kustomize requires), so the user's files are never touched and relative paths
inside the app keep working. Pure: it returns the document; the caller writes and renders it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from kubectl_gitops.appsource import Kustomize
from kubectl_gitops.errors import GitopsError


def has_options(k: Kustomize | None) -> bool:
    return k is not None and any(getattr(k, f) for f in (
        "images", "name_prefix", "name_suffix", "common_labels", "common_annotations", "namespace", "replicas",
        "patches", "components"))


def wrapper(k: Kustomize, own: Mapping[str, Any], to_app: str, rel_to: Callable[[str], str],
            read_patch: Callable[[str], str], env: Mapping[str, str], where: str) -> dict[str, Any]:
    """The wrapping kustomization. `own` is the app's kustomization (for Argo CD's label and annotation
    conflicts), `to_app` the app's directory relative to the wrapper, `rel_to` maps a path relative to the
    app to one relative to the wrapper, `read_patch` reads a patch file (confined) for inlining."""
    doc: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                           "resources": [to_app]}
    if k.name_prefix:
        doc["namePrefix"] = k.name_prefix
    if k.name_suffix:
        doc["nameSuffix"] = k.name_suffix
    if k.namespace:
        doc["namespace"] = k.namespace
    if k.images:
        doc["images"] = [parse_image(i, where) for i in k.images]
    if k.common_labels:
        _no_conflict(own, "commonLabels", k.common_labels, k.force_common_labels, where, "forceCommonLabels")
        labels = dict(k.common_labels)
        if k.label_without_selector:
            doc["labels"] = [{"pairs": labels, "includeSelectors": False,
                              **({"includeTemplates": True} if k.label_include_templates else {})}]
        else:
            doc["commonLabels"] = labels
    if k.common_annotations:
        _no_conflict(own, "commonAnnotations", k.common_annotations, k.force_common_annotations, where,
                     "forceCommonAnnotations")
        doc["commonAnnotations"] = {name: envsubst(v, env) if k.common_annotations_envsubst else v
                                    for name, v in k.common_annotations}
    if k.replicas:
        doc["replicas"] = [{"name": n, "count": c} for n, c in k.replicas]
    if k.components:
        doc["components"] = [rel_to(c) for c in k.components]  # absent ones dropped by the caller
    if k.patches:
        doc["patches"] = [_patch(p, read_patch) for p in orjson.loads(k.patches)]
    return doc


def parse_image(spec: str, where: str) -> dict[str, str]:
    """`kustomize edit set image` syntax: `[name=]newName[:tag|@digest]`, or `name:tag` alone."""
    name, eq, rest = spec.partition("=")
    if not eq:
        rest = spec
    image, digest = rest.split("@", 1) if "@" in rest else (rest, "")
    slash = image.rfind("/")
    colon = image.rfind(":")
    tag = image[colon + 1:] if colon > slash else ""
    new_name = image[:colon] if colon > slash else image
    if not new_name:
        raise GitopsError(f"{where}: source.kustomize.images: {spec!r} names no image")
    out = {"name": name if eq else new_name}
    if new_name != out["name"]:
        out["newName"] = new_name
    if tag:
        out["newTag"] = tag
    if digest:
        out["digest"] = digest
    return out


def envsubst(value: str, env: Mapping[str, str]) -> str:
    """$VAR and ${VAR} from Argo CD's build environment; unknown variables become empty, like envsubst."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def _no_conflict(own: Mapping[str, Any], field: str, pairs: tuple[tuple[str, str], ...], force: bool,
                 where: str, flag: str) -> None:
    """Argo CD's `kustomize edit add` refuses a key the kustomization already sets, unless forced."""
    existing = own.get(field) or {}
    clash = next((key for key, _ in pairs if isinstance(existing, dict) and key in existing), None)
    if clash and not force:
        raise GitopsError(f"{where}: source.kustomize.{field}: {clash!r} is already set in the kustomization",
                          hint=f"set source.kustomize.{flag}: true to override it")


def _patch(p: dict[str, Any], read_patch: Callable[[str], str]) -> dict[str, Any]:
    out = {k: v for k, v in p.items() if k != "path"}
    if p.get("path"):
        out["patch"] = read_patch(str(p["path"]))  # inlined: kustomize reads files only below the wrapper
    return out


def relative(from_dir: Path, to: Path) -> str:
    return Path(os.path.relpath(to, from_dir)).as_posix()
