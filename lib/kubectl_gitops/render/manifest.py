"""A rendered object and where it came from, and the checks every rendered document passes."""

from __future__ import annotations

from typing import Any

from kubectl_gitops import schema
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ARGO_GROUP, Manifest, Obj, group_of

__all__ = ["Manifest", "objects"]  # Manifest lives in model (the pipeline's data); renderers make them here


def objects(docs: Any, origin: str) -> list[Obj]:
    """Flatten `*List` kinds and check each object names apiVersion, kind and a name."""
    out: list[Obj] = []
    for i, doc in enumerate(docs, 1):
        if not isinstance(doc, dict):
            raise GitopsError(f"{origin}: document {i} is not a Kubernetes object (a mapping)")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out.extend(objects(doc["items"], origin))
            continue
        meta = doc.get("metadata")
        what = f"{origin}: document {i} ({doc.get('kind') or 'no kind'})"
        if not doc.get("apiVersion"):
            raise GitopsError(f"{what} has no apiVersion")
        if not doc.get("kind"):
            raise GitopsError(f"{what} has no kind")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise GitopsError(f"{what} has no metadata.name")
        # YAML reads `name: 0123` as a number; the API server accepts only strings.
        bad = next((f for f in ("name", "generateName", "namespace")
                    if meta.get(f) is not None and not isinstance(meta[f], str)), None)
        if bad:
            raise GitopsError(f"{what}: metadata.{bad} {meta[bad]!r} is not a string", hint="quote it in the YAML")
        if group_of(str(doc["apiVersion"])) == ARGO_GROUP and doc["kind"] in schema.SCHEMAS:
            schema.check_argo_document(doc, what)
        else:
            schema.check(meta, schema.METADATA, what, "metadata")
        out.append(doc)
    return out
