"""The two glob dialects AppProjects use, compiled to regular expressions. Pure, imports nothing of ours.

- `gobwas` (github.com/gobwas/glob, what Argo CD's util/glob wraps): `*` any run of non-separator
  characters, `**` any run at all, `?` one non-separator character, `[abc]`/`[!a-z]` classes,
  `{a,b}` alternatives, `\\` escapes. Argo CD passes `/` as separator for repository URLs only, so
  elsewhere `*` crosses everything.
- `go_path` (Go's path/filepath.Match, used for resource group/kind/name): `*` and `?` never match
  `/`, classes negate with `^`, no alternatives.

A pattern that does not compile matches nothing, as in both libraries (Argo CD logs and goes on).
"""

from __future__ import annotations

import re
from functools import lru_cache


class _BadPattern(ValueError):
    pass


def gobwas_match(pattern: str, value: str, separators: str = "") -> bool:
    rx = _gobwas(pattern, separators)
    return rx is not None and rx.fullmatch(value) is not None


def go_path_match(pattern: str, value: str) -> bool:
    rx = _go_path(pattern)
    return rx is not None and rx.fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _gobwas(pattern: str, separators: str) -> re.Pattern[str] | None:
    try:
        body, end = _gobwas_seq(pattern, 0, separators, depth=0)
    except _BadPattern:
        return None
    return re.compile(body, re.DOTALL) if end == len(pattern) else None


def _not_sep(separators: str) -> str:
    return f"[^{re.escape(separators)}]" if separators else "."


def _gobwas_seq(p: str, i: int, seps: str, depth: int) -> tuple[str, int]:
    """Parse from i up to the end (or, inside `{...}`, up to an unescaped `,` or `}`)."""
    out: list[str] = []
    while i < len(p):
        c = p[i]
        if depth and c in ",}":
            return "".join(out), i
        if c == "\\":
            if i + 1 >= len(p):
                raise _BadPattern("trailing escape")
            out.append(re.escape(p[i + 1]))
            i += 2
        elif c == "*":
            if p.startswith("**", i):
                out.append(".*")
                i += 2
            else:
                out.append(_not_sep(seps) + "*")
                i += 1
        elif c == "?":
            out.append(_not_sep(seps))
            i += 1
        elif c == "[":
            cls, i = _class(p, i + 1, negate_chars="!")
            out.append(cls)
        elif c == "{":
            alts: list[str] = []
            i += 1
            while True:
                alt, i = _gobwas_seq(p, i, seps, depth + 1)
                alts.append(alt)
                if i >= len(p):
                    raise _BadPattern("unclosed {")
                i += 1
                if p[i - 1] == "}":
                    break
            out.append("(?:" + "|".join(alts) + ")")
        else:
            out.append(re.escape(c))
            i += 1
    if depth:
        raise _BadPattern("unclosed {")
    return "".join(out), i


def _class(p: str, i: int, negate_chars: str) -> tuple[str, int]:
    """A character class starting after `[`; returns (regex, index after `]`)."""
    negate = i < len(p) and p[i] in negate_chars
    if negate:
        i += 1
    items: list[str] = []
    while True:
        if i >= len(p):
            raise _BadPattern("unclosed [")
        c = p[i]
        if c == "]" and items:
            i += 1
            break
        if c == "]":
            raise _BadPattern("empty character class")
        lo, i = _class_char(p, i)
        if i + 1 < len(p) and p[i] == "-" and p[i + 1] != "]":
            hi, i = _class_char(p, i + 1)
            if hi < lo:
                raise _BadPattern("bad range")
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            items.append(re.escape(lo))
    return "[" + ("^" if negate else "") + "".join(items) + "]", i


def _class_char(p: str, i: int) -> tuple[str, int]:
    if p[i] == "\\":
        if i + 1 >= len(p):
            raise _BadPattern("trailing escape")
        return p[i + 1], i + 2
    return p[i], i + 1


@lru_cache(maxsize=1024)
def _go_path(pattern: str) -> re.Pattern[str] | None:
    out: list[str] = []
    i = 0
    try:
        while i < len(pattern):
            c = pattern[i]
            if c == "\\":
                if i + 1 >= len(pattern):
                    raise _BadPattern("trailing escape")
                out.append(re.escape(pattern[i + 1]))
                i += 2
            elif c == "*":
                out.append("[^/]*")
                i += 1
            elif c == "?":
                out.append("[^/]")
                i += 1
            elif c == "[":
                cls, i = _class(pattern, i + 1, negate_chars="^")
                out.append(cls)
            else:
                out.append(re.escape(c))
                i += 1
    except _BadPattern:
        return None
    return re.compile("".join(out), re.DOTALL)
