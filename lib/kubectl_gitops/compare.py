"""Pure comparison of desired and live objects, with Argo CD's normalizations: server-managed fields,
ignoreDifferences (JSON pointers, jq paths, managed-fields managers), the fast path that needs no
dry-run, RespectIgnoreDifferences, Secret stringData and masking."""

from __future__ import annotations

import base64
import copy
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from kubectl_gitops.apps import IgnoreRule
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import (
    FIELD_MANAGER,
    LAST_APPLIED,
    TRACKING_ID,
    Obj,
    ResourceKey,
)

SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
                   "selfLink", "deletionGracePeriodSeconds")


@dataclass(frozen=True)
class Ignore:
    """Compiled ignoreDifferences for one object: what to strip from both sides."""

    pointers: tuple[str, ...] = ()
    jq: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pointers or self.jq or self.managers)


def rules_for(key: ResourceKey, rules: Iterable[IgnoreRule]) -> Ignore:
    pointers: list[str] = []
    jq: list[str] = []
    managers: list[str] = []
    for r in rules:
        if not _rule_matches(r, key):
            continue
        pointers.extend(r.json_pointers)
        jq.extend(r.jq_path_expressions)
        managers.extend(r.managed_fields_managers)
    return Ignore(tuple(pointers), tuple(jq), tuple(managers))


def _rule_matches(r: IgnoreRule, key: ResourceKey) -> bool:
    def ok(pattern: str, value: str) -> bool:
        return not pattern or pattern == "*" or fnmatch.fnmatchcase(value, pattern)

    # An empty group in a rule means the core group, as in Argo CD; "*" matches any group.
    group_ok = r.group == key.group or r.group == "*" or (r.group and fnmatch.fnmatchcase(key.group, r.group))
    return bool(group_ok) and ok(r.kind, key.kind) and ok(r.name, key.name) and ok(r.namespace, key.namespace)


# -- normalization ---------------------------------------------------------------------------------

def deep_copy(obj: Obj) -> Obj:
    """Objects are JSON data: an orjson round trip copies them ~10x faster than copy.deepcopy, and every
    object of a diff is normalized once or twice."""
    try:
        return orjson.loads(orjson.dumps(obj))
    except TypeError:  # YAML can hold what JSON cannot, such as non-string keys
        return copy.deepcopy(obj)


def normalize(obj: Obj) -> Obj:
    """A copy without what the server owns or Argo CD never compares."""
    out = deep_copy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for f in SERVER_METADATA:
        meta.pop(f, None)
    ann = meta.get("annotations")
    if ann is not None:
        ann.pop(LAST_APPLIED, None)
        ann.pop(TRACKING_ID, None)
        if not ann:
            del meta["annotations"]
    if not meta.get("labels") and "labels" in meta:
        del meta["labels"]
    if out.get("kind") == "Secret" and not out.get("apiVersion", "v1").count("/"):
        fold_string_data(out)
    return out


def fold_string_data(secret: Obj) -> None:
    """stringData is write-only: the server merges it into base64 data. Do the same."""
    sd = secret.pop("stringData", None)
    if sd:
        data = secret.setdefault("data", {}) or {}
        secret["data"] = data
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def apply_ignore(obj: Obj, ignore: Ignore, live: Obj | None) -> Obj:
    """Strip ignored paths. Managed-fields rules read the field owners from `live`."""
    if not ignore:
        return obj
    for p in ignore.pointers:
        remove_pointer(obj, p)
    for expr in ignore.jq:
        obj = remove_jq(obj, expr)
    if ignore.managers and live:
        for entry in (live.get("metadata") or {}).get("managedFields") or []:
            if entry.get("manager") in ignore.managers and entry.get("fieldsV1"):
                remove_fieldset(obj, entry["fieldsV1"])
    return obj


ABSENT = object()  # get_pointer's "no such path", distinct from a null value


def _pointer_parts(pointer: str) -> list[str]:
    """RFC 6901 tokens (`~1` is `/`, `~0` is `~`)."""
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def get_pointer(obj: Any, pointer: str) -> Any:
    node = obj
    for part in _pointer_parts(pointer):
        node = _child(node, part)
        if node is ABSENT:
            return ABSENT
    return node


def set_pointer(obj: Any, pointer: str, value: Any) -> None:
    """Set the value at `pointer`, creating missing mappings on the way."""
    parts = _pointer_parts(pointer)
    node = obj
    for part in parts[:-1]:
        nxt = _child(node, part)
        if nxt is ABSENT and isinstance(node, dict):
            nxt = node[part] = {}
        if nxt is ABSENT:
            return
        node = nxt
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value


def remove_pointer(obj: Any, pointer: str) -> None:
    """Delete the value at `pointer` if present."""
    if not pointer.startswith("/"):
        return
    parts = _pointer_parts(pointer)
    parent = get_pointer(obj, "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[:-1])) \
        if len(parts) > 1 else obj
    last = parts[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, ABSENT)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return ABSENT


def remove_jq(obj: Obj, expr: str) -> Obj:
    result = _jq(f"del({expr})", obj, expr)
    return result if isinstance(result, dict) else obj


def jq_pointers(obj: Obj, expr: str) -> list[str]:
    """JSON pointers of everything a jq path expression selects in `obj`, deepest list items first,
    so removing them one by one never shifts an index still to come."""
    paths = _jq(f"[path({expr})]", obj, expr) or []
    ordered = sorted(paths, key=lambda p: [(isinstance(x, int), x) for x in p], reverse=True)
    return ["/" + "/".join(str(x).replace("~", "~0").replace("/", "~1") for x in path) for path in ordered]


def _jq(program: str, obj: Obj, expr: str) -> Any:
    import jq  # lazy: only apps that use jqPathExpressions pay for it

    try:
        return jq.compile(program).input_value(obj).first()
    except ValueError as e:
        raise GitopsError(f"ignoreDifferences: jq expression {expr!r} failed: {e}") from None


def remove_fieldset(node: Any, fields: Obj) -> None:
    """Delete from `node` the leaves named by a managedFields fieldsV1 set."""
    for k, sub in fields.items():
        if k == ".":
            continue
        leaf = not sub or set(sub) == {"."}
        if k.startswith("f:") and isinstance(node, dict) and k[2:] in node:
            name = k[2:]
            if leaf:
                del node[name]
            else:
                remove_fieldset(node[name], sub)
                if node[name] in ({}, []) and "." in sub:
                    del node[name]
        elif isinstance(node, list):
            idx = _list_index(node, k)
            if idx is None:
                continue
            if leaf:
                del node[idx]
            else:
                remove_fieldset(node[idx], sub)


def _list_index(items: list[Any], k: str, key_defaults: dict[str, Any] | None = None) -> int | None:
    """The item of `items` a managedFields path element names. For a `k:` key, a key field the item
    leaves out counts as its value in `key_defaults` (what the server defaults it to)."""
    if k.startswith("k:"):
        want = orjson.loads(k[2:])
        defaults = key_defaults or {}
        return next((i for i, it in enumerate(items)
                     if isinstance(it, dict) and all(it.get(f, defaults.get(f)) == v for f, v in want.items())),
                    None)
    if k.startswith("v:"):
        want = orjson.loads(k[2:])
        return next((i for i, it in enumerate(items) if it == want), None)
    if k.startswith("i:") and k[2:].isdigit() and int(k[2:]) < len(items):
        return int(k[2:])
    return None


# -- the fast path: decide without a dry-run ---------------------------------------------------------

# Server defaults of list-map key fields that manifests usually leave out: our managed-fields entry for
# `ports: [{containerPort: 80}]` is keyed `k:{"containerPort":80,"protocol":"TCP"}`. Without this, every
# Deployment, StatefulSet and Service with a port would need a dry-run even when nothing changed.
LIST_KEY_DEFAULTS = {"protocol": "TCP"}


def in_sync_without_dry_run(desired: Obj, live: Obj) -> bool:
    """True when applying `desired` certainly changes nothing: every desired value is already live,
    and our last apply owned no field that desired no longer has (a removal). Anything uncertain
    (type coercion, defaulting, no record of our apply) answers False and goes to a dry-run."""
    # Normalizing live would only drop keys a normalized desired object never has: compare it raw.
    if not _subset(normalize(desired), live):
        return False
    ours = next((m for m in (live.get("metadata") or {}).get("managedFields") or []
                 if m.get("manager") == FIELD_MANAGER and m.get("operation") == "Apply"), None)
    if ours is None:
        return False
    return _owned_within(ours.get("fieldsV1") or {}, desired)


def _subset(d: Any, live: Any) -> bool:
    """Every value of `d` is in `live`, with the same JSON type (1 is not true). Leaves are compared
    inline: this runs on every field of every object of a no-change sync."""
    if type(d) is not type(live):
        return False
    if type(d) is dict:
        for k, v in d.items():
            lv = live.get(k, _ABSENT_KEY)
            tv = type(v)
            if tv is not type(lv):
                return False
            if tv is dict or tv is list:
                if not _subset(v, lv):
                    return False
            elif v != lv:
                return False
        return True
    if type(d) is list:
        return len(d) == len(live) and all(map(_subset, d, live))
    return d == live


_ABSENT_KEY = object()


def _owned_within(fields: Obj, desired: Any) -> bool:
    """Every field in our managed set still exists in desired (else the apply would remove it)."""
    for k, sub in fields.items():
        if k == ".":
            continue
        if k.startswith("f:"):
            if not isinstance(desired, dict) or k[2:] not in desired:
                return False
            if sub and not _owned_within(sub, desired[k[2:]]):
                return False
        elif isinstance(desired, list):
            idx = _list_index(desired, k, LIST_KEY_DEFAULTS)
            if idx is None:
                return False
            if sub and not _owned_within(sub, desired[idx]):
                return False
        else:
            return False
    return True


# -- RespectIgnoreDifferences ---------------------------------------------------------------------

def respect_ignored(obj: Obj, live: Obj, ignore: Ignore) -> Obj:
    """A copy of `obj` that keeps the live values at ignored paths instead of Git's."""
    if not ignore.pointers and not ignore.jq:
        return obj
    obj = copy.deepcopy(obj)
    for p in ignore.pointers:
        _keep_live_value(obj, live, p)
    for expr in ignore.jq:  # what the expression selects in Git goes; what it selects live stays
        for p in jq_pointers(obj, expr):
            remove_pointer(obj, p)
        for p in reversed(jq_pointers(live, expr)):  # in document order
            _keep_selected_live_value(obj, live, p)
    return obj


def _keep_live_value(obj: Obj, live: Obj, pointer: str) -> None:
    """Git's value at `pointer` is replaced by the live one (or dropped when there is none live)."""
    live_value = get_pointer(live, pointer)
    remove_pointer(obj, pointer)
    if live_value is not ABSENT:
        set_pointer(obj, pointer, copy.deepcopy(live_value))


def _keep_selected_live_value(obj: Obj, live: Obj, pointer: str) -> None:
    """Like `_keep_live_value`, but a list item is appended: jq selected it by what it holds, not by
    its position, and Git's items it selected are already gone."""
    parent, _, _ = pointer.rpartition("/")
    if not isinstance(get_pointer(live, parent) if parent else live, list):
        _keep_live_value(obj, live, pointer)
        return
    if parent and get_pointer(obj, parent) is ABSENT:
        set_pointer(obj, parent, [])
    items = get_pointer(obj, parent) if parent else obj
    if isinstance(items, list):
        items.append(copy.deepcopy(get_pointer(live, pointer)))
