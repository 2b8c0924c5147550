"""Round-trip YAML edits: set or remove values at paths, leaving every other byte as it was.

Two ways, tried in turn, and each result is checked by loading it: it must hold the original data with
exactly the requested changes, or the next way is tried.

1. In place: the characters of each changed scalar are replaced, nothing else. Anchors, tags, comments
   and quoting stay where they are (positions come from PyYAML's pure-Python scanner, which counts
   characters; libyaml's marks are not guaranteed to).
2. Restructured, for keys that must be added or removed: ruamel.yaml makes the structural edit (it keeps
   comments and key order) on its own rendering of the file, and only the lines that the edit changed
   there are carried over onto the original text, because ruamel's output can differ from the file in
   places we never touched (indentation it guessed differently, a `---`, wrapped lines).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from difflib import SequenceMatcher
from itertools import pairwise
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from kubectl_gitops.errors import GitopsError

try:
    from yaml import CBaseLoader as BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import BaseLoader  # type: ignore[assignment]

# (document index, then mapping keys and list indexes); a list index one past the end appends.
Path = tuple[int | str, ...]
Changes = Mapping[Path, str | None]  # None removes the key

# (mapping, sequence, offset) indentation styles tried in turn; the closest rendering wins.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 6, 4), (4, 4, 0), (4, 4, 2))
_QUOTED = (DoubleQuotedScalarString, SingleQuotedScalarString)


def update(text: str, source: str, changes: Changes) -> str:
    """`text` with each path set to its value (or removed), every other byte as it was."""
    if not changes:
        return text
    crlf = "\r\n" in text
    body = text.replace("\r\n", "\n")
    missing_newline = bool(body) and not body.endswith("\n")
    body += "\n" if missing_newline else ""
    expected = apply_plain(load_plain(body, source), changes)
    for way in (_in_place, _restructured):
        result = way(body, source, changes)
        if result is not None and load_plain(result, source) == expected:
            result = result[:-1] if missing_newline and result.endswith("\n") else result
            return result.replace("\n", "\r\n") if crlf else result
    raise GitopsError(f"{source}: cannot make this change without also reformatting other lines",
                      hint="make this change by hand")


def load_plain(text: str, source: str) -> list[Any]:
    """Every document, with scalars as written (1.10 stays "1.10"), as the readers of pins see them."""
    try:
        return list(yaml.load_all(text, Loader=BaseLoader))
    except yaml.YAMLError as e:
        raise GitopsError(f"{source}: invalid YAML: {e}") from None


def apply_plain(docs: list[Any], changes: Changes) -> list[Any]:
    """What `update` must produce, on the documents as `load_plain` reads them (a copy)."""
    result = json.loads(json.dumps(docs))
    for path, value in changes.items():
        parent: Any = result
        for step, following in pairwise(path):
            if isinstance(parent, list) and step == len(parent):
                parent.append([] if isinstance(following, int) else {})
            elif isinstance(parent, dict) and parent.get(step) in (None, ""):  # `key:` reads as ""
                parent[step] = [] if isinstance(following, int) else {}
            parent = parent[step]
        _assign(parent, path[-1], value)
    return result


def _assign(parent: Any, key: int | str, value: str | None) -> None:
    if value is None:
        if isinstance(parent, dict):
            parent.pop(key, None)
    elif isinstance(parent, list) and key == len(parent):
        parent.append(value)
    else:
        parent[key] = value


# --- 1. in place -------------------------------------------------------------------------------------


def _in_place(text: str, source: str, changes: Changes) -> str | None:
    if any(value is None for value in changes.values()):
        return None
    try:
        where = _scalars(text)
        # A scalar event starts at its anchor or tag; the scalar token itself is what we replace.
        starts = {_at(t.end_mark): _at(t.start_mark) for t in yaml.scan(text, Loader=yaml.SafeLoader)
                  if isinstance(t, yaml.ScalarToken)}
    except yaml.YAMLError:
        return None
    anchored: dict[str | None, str | None] = {e.anchor: changes[p] for p, e in where.items()
                if isinstance(e, yaml.ScalarEvent) and e.anchor and p in changes}
    spans: dict[tuple[int, int], str] = {}
    for path, value in changes.items():
        event = where.get(path)
        if isinstance(event, yaml.AliasEvent):
            if anchored.get(event.anchor) == value:
                continue  # it follows its anchor, which gets this very value
            # the alias alone gets the value; its anchor stays
            span, style = (_at(event.start_mark), _at(event.end_mark)), None
        elif isinstance(event, yaml.ScalarEvent) and event.style in (None, '"', "'"):
            end = _at(event.end_mark)
            span, style = (starts.get(end, _at(event.start_mark)), end), event.style
        else:
            return None
        rendered = _render(str(value), style)
        if spans.setdefault(span, rendered) != rendered:
            return None
    for (start, end), rendered in sorted(spans.items(), reverse=True):
        text = text[:start] + rendered + text[end:]
    return text


def _at(mark: Any) -> int:
    assert mark is not None  # the pure-Python parser marks every event and token
    return mark.index


def _scalars(text: str) -> dict[Path, yaml.Event]:
    """The scalar or alias event at each path of the documents (keys that are not scalars skipped)."""
    found: dict[Path, yaml.Event] = {}
    stack: list[list[Any]] = []  # [path, is mapping, next index or current key, expecting a key]
    doc = -1
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            doc += 1
            continue
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        path: Path | None = (doc,)
        if stack:
            top = stack[-1]
            if top[1] and top[3]:  # a key
                top[2], top[3] = (event.value if isinstance(event, yaml.ScalarEvent) else None), False
                path = None
            elif top[1]:
                path, top[3] = (None if top[0] is None or top[2] is None else (*top[0], top[2])), True
            else:
                path, top[2] = (None if top[0] is None else (*top[0], top[2])), top[2] + 1
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            # a collection under a non-scalar key is walked with no path, so nothing in it matches
            stack.append([path, isinstance(event, yaml.MappingStartEvent), 0, True])
        elif path is not None:
            found[path] = event
    return found


def _render(value: str, style: str | None) -> str:
    if style == '"':
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar
    if style is None and plain_safe(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def plain_safe(value: str) -> bool:
    """Whether `value` written unquoted reads back as this very string (not 1.1, true, null, a comment)."""
    try:
        return bool(value) and yaml.safe_load(f"k: {value}\n") == {"k": value}
    except yaml.YAMLError:
        return False


# --- 2. restructured ---------------------------------------------------------------------------------


def _restructured(text: str, source: str, changes: Changes) -> str | None:
    loaded = _load(text, source)
    if loaded is None:
        return None
    ruamel, docs, rendered = loaded
    for path, value in changes.items():
        if not _set(docs, path, value):
            return None
    lines = _splice(text.splitlines(keepends=True), rendered.splitlines(keepends=True),
                    _dump(ruamel, docs).splitlines(keepends=True))
    return None if lines is None else "".join(lines)


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    ruamel = YAML()
    ruamel.preserve_quotes = True
    ruamel.width = 1 << 16  # never wrap a long line that was not wrapped
    ruamel.indent(mapping=mapping, sequence=sequence, offset=offset)
    return ruamel


def _dump(ruamel: YAML, docs: list[Any]) -> str:
    out = io.StringIO()
    ruamel.dump_all(docs, out)
    return out.getvalue()


def _load(text: str, source: str) -> tuple[YAML, list[Any], str] | None:
    """The documents loaded with the indentation style whose rendering is closest to `text`."""
    best: tuple[float, YAML, list[Any], str] | None = None
    for style in _INDENTS:
        ruamel = _yaml(*style)
        try:
            docs = list(ruamel.load_all(text))
        except YAMLError as e:
            raise GitopsError(f"{source}: invalid YAML: {e}") from None
        rendered = _dump(ruamel, docs)
        if rendered == text:
            return ruamel, docs, rendered
        score = SequenceMatcher(None, text.splitlines(), rendered.splitlines(), autojunk=False).ratio()
        if best is None or score > best[0]:
            best = (score, ruamel, docs, rendered)
    return None if best is None else (best[1], best[2], best[3])


def _set(docs: list[Any], path: Path, value: str | None) -> bool:
    """Set (or remove) one path in the ruamel documents, creating what is missing on the way."""
    parent: Any = docs
    for step, following in pairwise(path):
        if isinstance(parent, CommentedSeq | list) and isinstance(step, int) and step == len(parent):
            parent.append(CommentedSeq() if isinstance(following, int) else CommentedMap())
        elif isinstance(parent, CommentedMap) and parent.get(step) is None:
            parent[step] = CommentedSeq() if isinstance(following, int) else CommentedMap()
        elif not isinstance(parent, CommentedMap | CommentedSeq | list):
            return False
        parent = parent[step]
    key = path[-1]
    if value is None:
        if isinstance(parent, CommentedMap):
            parent.pop(key, None)
        return True
    if isinstance(parent, CommentedMap):
        parent[key] = _styled(value, parent.get(key, _sibling_value(docs, path)))
    elif isinstance(parent, CommentedSeq) and isinstance(key, int) and key <= len(parent):
        parent[key:key + 1] = [value]
    else:
        return False
    return True


def _sibling_value(docs: list[Any], path: Path) -> object:
    """The same key in another item of the enclosing list (a new `images:` entry is quoted like the
    others), or None."""
    if len(path) < 3 or not isinstance(path[-2], int):
        return None
    items: Any = docs
    for step in path[:-2]:
        items = items[step]
    return next((item[path[-1]] for item in items if isinstance(item, dict) and path[-1] in item), None)


def _styled(value: str, example: object) -> str:
    """`value` quoted the way the value it replaces (or a sibling's) was quoted, or when it must be."""
    if isinstance(example, _QUOTED):
        return type(example)(value)
    return value if plain_safe(value) else SingleQuotedScalarString(value)


def _splice(original: list[str], before: list[str], after: list[str]) -> list[str] | None:
    """Carry the before→after line changes over onto `original`, which `before` is a rendering of.

    None when a changed line of `before` has no identical line in `original` to stand for.
    """
    if before == original:
        return after
    where: dict[int, int] = {}  # line of `before` -> the identical line of `original`
    for tag, i1, i2, j1, _ in SequenceMatcher(None, before, original, autojunk=False).get_opcodes():
        if tag == "equal":
            where.update({i1 + k: j1 + k for k in range(i2 - i1)})
    result = list(original)
    hunks = SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(hunks):  # from the end, so earlier positions stay valid
        if tag == "equal":
            continue
        span = _span(where, i1, i2)
        if span is None:
            return None
        result[span[0]:span[1]] = after[j1:j2]
    return result


def _span(where: dict[int, int], i1: int, i2: int) -> tuple[int, int] | None:
    if i1 == i2:  # an insertion: anchor it after the line before it, or before the line after it
        if i1 - 1 in where:
            return where[i1 - 1] + 1, where[i1 - 1] + 1
        return (where[i1], where[i1]) if i1 in where else None
    if any(i not in where for i in range(i1, i2)):
        return None
    lines = [where[i] for i in range(i1, i2)]
    if lines != list(range(lines[0], lines[0] + len(lines))):  # the lines must still be adjacent
        return None
    return lines[0], lines[-1] + 1
