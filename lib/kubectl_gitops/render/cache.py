"""The render cache: a renderer's output stored under the digest of everything it depended on.

One orjson file per render under `cache_dir("render")`, written 0600; a render whose objects JSON cannot
hold exactly is not stored (it would read back different), nor one holding a Secret (its data never goes
to disk), so it is simply rendered again next time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import orjson

from kubectl_gitops.model import is_secret
from kubectl_gitops.render.manifest import Manifest
from kubectl_gitops.trees import cache_dir, private_files

RENDER_CACHE_VERSION = "2"  # bump when a key's parts or the file format change


def key(renderer: str, parts: list[str]) -> str:
    return hashlib.sha256("\0".join([RENDER_CACHE_VERSION, renderer, *parts]).encode()).hexdigest()


def read(key: str) -> list[Manifest] | None:
    f = cache_dir("render", key[:2], f"{key}.json")
    try:
        return [Manifest(obj, origin) for origin, obj in orjson.loads(f.read_bytes())]
    except (OSError, orjson.JSONDecodeError, ValueError):
        return None


def write(key: str, manifests: list[Manifest]) -> None:
    if not json_exact([m.obj for m in manifests]) or holds_secret([m.obj for m in manifests]):
        return
    f = cache_dir("render", key[:2], f"{key}.json")
    tmp = f.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    try:
        with private_files:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps([[m.origin, m.obj] for m in manifests]))
        tmp.replace(f)
    except OSError:  # a read-only or full cache directory costs speed, never the run
        tmp.unlink(missing_ok=True)


def holds_secret(docs: list[Any]) -> bool:
    """Is a Secret among `docs`, or among the items of a `*List` in them?"""
    return any(isinstance(d, dict) and (is_secret(d) or (str(d.get("kind", "")).endswith("List")
                                                         and isinstance(d.get("items"), list)
                                                         and holds_secret(d["items"])))
               for d in docs)


def json_exact(value: Any) -> bool:
    """Does `value` come back from orjson equal? YAML also makes dates, binary, sets, ordered pairs,
    NaN, integers beyond 64 bits and non-string keys, which JSON turns into something else or rejects."""
    try:
        return bool(orjson.loads(orjson.dumps(value)) == value)
    except TypeError:  # orjson.JSONEncodeError included
        return False
