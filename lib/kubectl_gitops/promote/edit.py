"""Change `images:` entries in a kustomization file, leaving every other byte as it was.

ruamel.yaml does the structural edit (it keeps comments and key order), but its output can still differ
from the file in places we never touched (indentation it guessed differently, a `---`, wrapped lines).
So the edit is made on ruamel's rendering of the unchanged file, and only the lines that the edit
changed there are carried over onto the original text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.images import ImageEntry, read_images

# (mapping, sequence, offset) indentation styles tried in turn; the closest rendering wins.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 6, 4), (4, 4, 0), (4, 4, 2))
_QUOTED = (DoubleQuotedScalarString, SingleQuotedScalarString)


def set_images(text: str, source: str, updates: Sequence[ImageEntry]) -> str:
    """`text` with each update's newName/newTag/digest set on the entry of that name (added if absent)."""
    crlf = "\r\n" in text
    body = text.replace("\r\n", "\n")
    missing_newline = bool(body) and not body.endswith("\n")
    body += "\n" if missing_newline else ""
    yaml, doc, rendered = _load(body, source)
    _apply(doc, updates, source)
    lines = _splice(body.splitlines(keepends=True), rendered.splitlines(keepends=True),
                    _dump(yaml, doc).splitlines(keepends=True))
    if lines is None:
        raise _reformat_error(source)
    result = "".join(lines)
    result = result[:-1] if missing_newline and result.endswith("\n") else result
    result = result.replace("\n", "\r\n") if crlf else result
    if read_images(result, source) != _expected(read_images(text, source), updates):
        raise _reformat_error(source)
    return result


def _reformat_error(source: str) -> GitopsError:
    return GitopsError(f"{source}: cannot change images: without also reformatting other lines",
                       hint="make this change by hand")


def _expected(entries: list[ImageEntry], updates: Sequence[ImageEntry]) -> list[ImageEntry]:
    result = list(entries)
    for update in updates:
        at = next((i for i, e in enumerate(result) if e.name == update.name), None)
        if at is None:
            result.append(update)
        else:
            result[at] = update
    return result


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never wrap a long line that was not wrapped
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _load(text: str, source: str) -> tuple[YAML, CommentedMap, str]:
    """The document loaded with the indentation style whose rendering is closest to `text`."""
    best: tuple[float, YAML, CommentedMap, str] | None = None
    for style in _INDENTS:
        yaml = _yaml(*style)
        try:
            doc = yaml.load(text)
        except YAMLError as e:
            raise GitopsError(f"{source}: invalid YAML: {e}") from None
        if not isinstance(doc, CommentedMap):
            raise GitopsError(f"{source}: expected a Kustomization mapping")
        rendered = _dump(yaml, doc)
        if rendered == text:
            return yaml, doc, rendered
        score = SequenceMatcher(None, text.splitlines(), rendered.splitlines(), autojunk=False).ratio()
        if best is None or score > best[0]:
            best = (score, yaml, doc, rendered)
    assert best is not None
    return best[1], best[2], best[3]


def _apply(doc: CommentedMap, updates: Sequence[ImageEntry], source: str) -> None:
    if doc.get("images") is None:
        doc["images"] = CommentedSeq()
    entries = doc["images"]
    if not isinstance(entries, CommentedSeq):
        raise GitopsError(f"{source}: images: must be a list")
    for update in updates:
        entry = next((e for e in entries if isinstance(e, dict) and e.get("name") == update.name), None)
        if entry is None:
            entry = CommentedMap(name=update.name)
            entries.append(entry)
        for key, value in update.fields().items():
            if value is None:
                entry.pop(key, None)
            else:
                sibling = next((e[key] for e in entries if isinstance(e, dict) and key in e), None)
                entry[key] = _styled(value, entry.get(key, sibling))


def _styled(value: str, example: object) -> str:
    """`value` quoted the way the value it replaces (or a sibling entry's) was quoted."""
    return type(example)(value) if isinstance(example, _QUOTED) else value


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
