"""The render cache: a renderer's output stored under the digest of everything it depended on.

One orjson file per render under `cache_dir("render")`, written 0600; a render whose objects JSON cannot
hold exactly is not stored (it would read back different), nor one holding a Secret (its data never goes
to disk), so it is simply rendered again next time.

A long-running process (watch) renders the same trees at every reconcile: it can keep them in memory
too (`keep_in_memory`), Secrets included, as long as some reconcile still asks for them.
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


class Memory:
    """Renders kept as orjson bytes (each read gets its own objects, as from disk). `sweep` drops those
    not asked for since the last sweep, so memory holds one reconcile's renders, not every commit's."""

    def __init__(self) -> None:
        self._kept: dict[str, bytes] = {}
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._kept.get(key)
            if data is not None:
                self._used.add(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._kept[key] = data
            self._used.add(key)

    def sweep(self) -> None:
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if k in self._used}
            self._used = set()


_memory: Memory | None = None


def keep_in_memory() -> Memory:
    """From now on renders are kept in this process's memory too; the caller sweeps it."""
    global _memory
    _memory = _memory or Memory()
    return _memory


def read(key: str) -> list[Manifest] | None:
    data = _memory.get(key) if _memory else None
    f = cache_dir("render", key[:2], f"{key}.json")
    try:
        return [Manifest(obj, origin) for origin, obj in orjson.loads(data or f.read_bytes())]
    except (OSError, orjson.JSONDecodeError, ValueError):
        return None


def write(key: str, manifests: list[Manifest]) -> None:
    if not json_exact([m.obj for m in manifests]):
        return
    data = orjson.dumps([[m.origin, m.obj] for m in manifests])
    if _memory:
        _memory.put(key, data)
    if holds_secret([m.obj for m in manifests]):
        return
    f = cache_dir("render", key[:2], f"{key}.json")
    tmp = f.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    try:
        with private_files:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
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
