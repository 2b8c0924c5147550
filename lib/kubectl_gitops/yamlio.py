"""YAML/JSON reading and writing with libyaml (CSafeLoader is ~10x the pure-Python loader).

Reading is strict where PyYAML is lenient, the way kubectl is: a key given twice in one mapping is an
error naming its line (PyYAML keeps the last), and aliases may not expand a document beyond
ALIAS_EXPANSION_LIMIT (a 1 KB "billion laughs" document is tiny in memory, where one node object is
shared by every alias, and ~5 GB when anything walks or serialises it) nor refer to themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from kubectl_gitops.errors import GitopsError

try:
    from yaml import CSafeDumper as Dumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

# What aliases may add to a document, counted as one per node plus each scalar's length (about the
# bytes it takes as JSON). The API server refuses objects over 3 MB, so no honest manifest comes close.
ALIAS_EXPANSION_LIMIT = 10_000_000


class Loader(_BaseLoader):
    """libyaml's safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        own = node.value  # flatten_mapping removes `<<` entries from this list and may rebind node.value
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) != len(own) or node.value is not own:  # the common case costs one comparison
            _refuse_duplicates(self, own)
        return mapping


def _refuse_duplicates(loader: Loader, pairs: list[tuple[Node, Node]]) -> None:
    seen: dict[Any, Node] = {}
    for key_node, _ in pairs:
        key = loader.construct_object(key_node)
        first = seen.setdefault(key, key_node)
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice in this mapping (first on line "
                            f"{first.start_mark.line + 1})", key_node.start_mark)


def load_all(text: str | bytes, source: str) -> Iterator[Any]:
    """Every non-empty document of a YAML stream; a parse error names `source` and the line."""
    aliased = _may_alias(text)
    loader = Loader(text)
    try:
        while loader.check_node():  # CParser.get_node must follow check_node
            node = loader.get_node()
            if node is None:
                break
            if aliased:
                _check_expansion(node, source)
            doc = loader.construct_document(node)
            if doc is not None:
                yield doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise GitopsError(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def load(text: str | bytes, source: str) -> Any:
    docs = list(load_all(text, source))
    if len(docs) != 1:
        raise GitopsError(f"{source}: expected one YAML document, found {len(docs)}")
    return docs[0]


def load_documents(data: bytes, source: str, *, is_json: bool) -> list[Any]:
    """The documents of a manifest file: a JSON file's one, or a YAML stream's."""
    return [load_json(data, source)] if is_json else list(load_all(data, source))


def load_json(data: bytes, source: str) -> Any:
    """One JSON document, a key given twice refused like in YAML (JSON is YAML: it finds the line)."""
    try:
        return json.loads(data, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as e:
        try:
            load(data, source)  # names the line where it can
        except GitopsError as located:
            raise GitopsError(located.message.replace(": invalid YAML: ", ": invalid JSON: ", 1)) from None
        raise GitopsError(f"{source}: invalid JSON: key {e.key!r} is given twice in one object") from None
    except (ValueError, RecursionError) as e:
        at = f":{e.lineno}:{e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise GitopsError(f"{source}{at}: invalid JSON: {getattr(e, 'msg', e)}") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return out


def _may_alias(text: str | bytes) -> bool:
    """An alias needs an anchor (`&`) and a reference (`*`): without both, no node is shared."""
    return ("*" in text and "&" in text) if isinstance(text, str) else (b"*" in text and b"&" in text)


def _check_expansion(root: Node, source: str) -> None:
    """Refuse a document whose aliases refer to themselves or expand it beyond ALIAS_EXPANSION_LIMIT.

    Sizes are computed once per node (a shared node's size is reused), so this is linear in the nodes
    the parser made, whatever the aliases would expand to.
    """
    size: dict[int, int] = {}  # id(node) → its size with every alias expanded
    own = 0  # the size counting each node once
    on_path: set[int] = set()  # the nodes being sized: meeting one again is a cycle
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = node.value if isinstance(node, SequenceNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else ())
        if children_done:
            on_path.discard(id(node))
            n = 1 + sum(size[id(c)] for c in children) if children else 1 + len(node.value)
            size[id(node)] = n
            own += 1 if children else 1 + len(node.value)
            if n - own > ALIAS_EXPANSION_LIMIT:
                raise GitopsError(f"{_at(source, node)}: YAML aliases expand this document "
                                  f"to more than {ALIAS_EXPANSION_LIMIT // 1_000_000} MB; refused (an alias bomb?)")
            continue
        if id(node) in size:
            continue
        if id(node) in on_path:
            raise GitopsError(f"{_at(source, node)}: a YAML alias refers to the node that "
                              "contains it; refused")
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _at(source: str, node: Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def dump(obj: Any, sort_keys: bool = False) -> str:
    return yaml.dump(obj, Dumper=Dumper, default_flow_style=False, sort_keys=sort_keys, allow_unicode=True)


def dump_all(objs: list[Any]) -> str:
    return yaml.dump_all(objs, Dumper=Dumper, default_flow_style=False, sort_keys=False,
                         allow_unicode=True)
