"""Secret values never shown: in views of a Secret, and in what the server says about one. Pure.

Views are masked the way Argo CD masks them (gitops-engine HideSecretData): each `data` value becomes
'+'s, 8 for the first distinct value of a key and 4 more for each further one, so a change shows without
its content. The server quotes the values it rejects (`got &value.valueUnstructured{Value:…}`, a
`stringData` list as `&{[…]}`): a message about a Secret gets every value the Secret holds (as written
and base64-decoded) and whatever follows "got " masked the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from kubectl_gitops.model import ARGO_GROUP, LAST_APPLIED, Obj, group_of, is_secret
from kubectl_gitops.repourl import RepoURL

MASK = "+" * 8
_QUOTED = re.compile(r"(\bgot )(.+?)(?=(?: \(\d{3}\))?$)", re.MULTILINE)  # up to the " (500)" we append


def mask_secrets(*objs: Obj | None) -> None:
    """Replace Secret data values in place, consistently across `objs` (target first, then live):
    per key, the first distinct value becomes 8 '+', each further distinct value 4 more. An
    Application's repoURLs lose the credentials they carry."""
    masks: dict[str, dict[str, str]] = {}
    for obj in objs:
        if obj and obj.get("kind") == "Application" and group_of(str(obj.get("apiVersion", ""))) == ARGO_GROUP:
            strip_repo_credentials(obj.get("spec"))
        if not obj or obj.get("kind") != "Secret":
            continue
        data = obj.get("data") or {}
        for k, v in data.items():
            seen = masks.setdefault(k, {})
            if v not in seen:
                seen[v] = "+" * (8 + 4 * len(seen))
            data[k] = seen[v]
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        if LAST_APPLIED in ann:
            ann[LAST_APPLIED] = MASK


def strip_repo_credentials(spec: Any) -> None:
    """An Application spec's repoURLs (source, sources) without the credentials they carry, in place."""
    if not isinstance(spec, dict):
        return
    sources = [spec.get("source"), *(spec.get("sources") or [])]
    for src in sources:
        if isinstance(src, dict) and isinstance(src.get("repoURL"), str):
            src["repoURL"] = RepoURL.parse(src["repoURL"]).shown


def mask_message(message: str, obj: Obj) -> str:
    """`message` (about `obj`) with nothing of a Secret's values left in it; other objects' unchanged."""
    if not is_secret(obj):
        return message
    for value in sorted({v for v in _values(obj) if v.strip()}, key=len, reverse=True):
        # Whole values only, so a short one does not eat parts of words ("v1" in "v1beta1" stays).
        message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, message)
    return _QUOTED.sub(rf"\g<1>{MASK}", message)


def _values(secret: Obj) -> Iterator[str]:
    for field in ("data", "stringData"):
        for value in _scalars(secret.get(field)):
            yield value
            yield _decoded(value)


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):  # not base64 or not text: nothing more to hide
        return ""


def _scalars(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _scalars(v)
    elif isinstance(node, list):
        for v in node:
            yield from _scalars(v)
    elif node is not None:
        yield str(node).lower() if isinstance(node, bool) else str(node)
