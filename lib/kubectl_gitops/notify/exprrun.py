"""Evaluation of parsed expr-lang expressions over the trigger variables, with expr's runtime rules:
a missing map key is nil, fetching from nil is an error (unless `?.`), `and`/`or` need booleans,
numbers compare across int and float, and Argo CD's `time` and `strings` helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.expr import Node


class ExprError(Exception):
    """An evaluation error: the condition does not fire."""


class _NilChain(Exception):
    """`a?.b` met nil: the whole chain is nil."""


def type_name(v: Any) -> str:
    if v is None:
        return "<nil>"
    for t, name in ((bool, "bool"), (gv.Duration, "time.Duration"), (int, "int"), (float, "float64"),
                    (str, "string"), (datetime, "time.Time"), (list, "[]interface {}"),
                    (dict, "map[string]interface {}")):
        if isinstance(v, t):
            return name
    return "func" if callable(v) else type(v).__name__


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def _order(op: str, a: Any, b: Any) -> bool:
    ok = (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)) or (
        isinstance(a, datetime) and isinstance(b, datetime))
    if not ok:
        raise ExprError(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _bool(v: Any, op: str) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"invalid operation: {op} on {type_name(v)} (a bool is needed)")
    return v


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        if isinstance(a, datetime) and isinstance(b, gv.Duration):
            return gv.add_duration(a, b)
        if isinstance(a, gv.Duration) and isinstance(b, datetime):
            return gv.add_duration(b, a)
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if isinstance(a, list) and isinstance(b, list):
            return a + b
    if op == "-" and isinstance(a, datetime):
        if isinstance(b, datetime):
            return gv.sub_times(a, b)
        if isinstance(b, gv.Duration):
            return gv.add_duration(a, -b)
    if not (_is_num(a) and _is_num(b)):
        raise ExprError(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")
    if op in "/%" and b == 0:
        raise ExprError("integer divide by zero" if op == "%" else "division by zero")
    if op == "%":
        if not (isinstance(a, int) and isinstance(b, int)):
            raise ExprError(f"invalid operation: % (mismatched types {type_name(a)} and {type_name(b)})")
        return a - b * int(a / b)  # Go truncates toward zero
    if op == "/":
        return a / b
    if op in ("**", "^"):
        return float(a) ** float(b)
    return a + b if op == "+" else a - b if op == "-" else a * b


def _string_op(op: str, a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise ExprError(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")
    if op == "matches":
        try:
            return re.search(b, a) is not None
        except re.error as e:
            raise ExprError(f"invalid regular expression {b!r}: {e}") from None
    return {"contains": b in a, "startsWith": a.startswith(b), "endsWith": a.endswith(b)}[op]


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(equal(a, x) for x in b)
    if isinstance(b, dict):
        return a in b
    raise ExprError(f"operator in not defined on {type_name(b)}")


_TIME_METHODS: dict[str, Callable[..., Any]] = {
    "Before": lambda t, u: t < u, "After": lambda t, u: t > u, "Equal": lambda t, u: t == u,
    "Add": gv.add_duration, "Sub": gv.sub_times, "Unix": lambda t: int(t.timestamp()),
    "UTC": gv.as_utc, "Format": gv.format_time, "IsZero": lambda t: t.year == 1 and t.month == 1 and t.day == 1,
    "Year": lambda t: t.year, "Day": lambda t: t.day, "Hour": lambda t: t.hour, "Minute": lambda t: t.minute,
    "Second": lambda t: t.second, "String": gv.time_string,
}


def fetch(obj: Any, key: Any) -> Any:
    if obj is None:
        raise ExprError(f"cannot fetch {gv.go_str(key)} from <nil>")
    if isinstance(obj, dict):
        return obj.get(key)
    if isinstance(obj, list | str):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"cannot fetch {gv.go_str(key)} from {type_name(obj)}")
        i = key + len(obj) if key < 0 else key
        if not 0 <= i < len(obj):
            raise ExprError(f"index out of range: {key} (array length is {len(obj)})")
        return obj[i]
    if isinstance(obj, datetime) and key in _TIME_METHODS:
        method = _TIME_METHODS[key]
        return lambda *args: method(obj, *args)
    if isinstance(obj, gv.Duration) and key in ("Hours", "Minutes", "Seconds", "Milliseconds", "String"):
        return getattr(obj, key)
    raise ExprError(f"cannot fetch {gv.go_str(key)} from {type_name(obj)}")


def _time_parse(s: Any) -> datetime:
    try:
        return gv.parse_rfc3339(s)
    except ValueError as e:
        raise ExprError(str(e)) from None


def helpers() -> dict[str, Any]:
    """Argo CD's expression namespaces: `time` (Now, Parse, durations, layouts) and `strings`."""
    time_ns: dict[str, Any] = {"Now": gv.now, "Parse": _time_parse}
    for unit, size in (("Nanosecond", 1), ("Microsecond", 1_000), ("Millisecond", 1_000_000),
                       ("Second", 10**9), ("Minute", 60 * 10**9), ("Hour", 3600 * 10**9)):
        time_ns[unit] = gv.Duration(size)
    time_ns.update(RFC3339="2006-01-02T15:04:05Z07:00", RFC3339Nano="2006-01-02T15:04:05.999999999Z07:00",
                   Kitchen="3:04PM", RFC1123="Mon, 02 Jan 2006 15:04:05 MST", DateTime="2006-01-02 15:04:05",
                   DateOnly="2006-01-02", TimeOnly="15:04:05")
    strings_ns = {"ReplaceAll": lambda s, old, new: s.replace(old, new),
                  "Contains": lambda s, sub: sub in s, "HasPrefix": lambda s, p: s.startswith(p),
                  "HasSuffix": lambda s, p: s.endswith(p), "ToLower": str.lower, "ToUpper": str.upper,
                  "TrimSpace": str.strip, "Split": lambda s, sep: s.split(sep), "Join": lambda xs, sep: sep.join(xs),
                  "TrimPrefix": lambda s, p: s[len(p):] if s.startswith(p) else s,
                  "TrimSuffix": lambda s, p: s[:-len(p)] if p and s.endswith(p) else s,
                  "Replace": lambda s, old, new, n: s.replace(old, new, n if n >= 0 else -1)}
    return {"time": time_ns, "strings": strings_ns}


def _duration(s: Any) -> gv.Duration:
    try:
        return gv.parse_duration(s)
    except (ValueError, TypeError) as e:
        raise ExprError(str(e)) from None


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "abs": abs, "int": int, "float": float, "string": gv.go_str, "upper": str.upper, "lower": str.lower,
    "trim": str.strip, "split": lambda s, sep: s.split(sep), "join": lambda xs, sep="": sep.join(xs),
    "hasPrefix": lambda s, p: s.startswith(p), "hasSuffix": lambda s, p: s.endswith(p),
    "keys": lambda m: list(m), "values": lambda m: list(m.values()), "first": lambda xs: xs[0] if xs else None,
    "last": lambda xs: xs[-1] if xs else None, "indexOf": lambda s, sub: s.find(sub),
    "replace": lambda s, old, new: s.replace(old, new), "toJSON": lambda v: json.dumps(v, indent=2),
    "fromJSON": json.loads, "duration": _duration, "now": gv.now, "type": type_name,
    "max": max, "min": min,
}


class Evaluator:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.vars = {**helpers(), **variables}

    def run(self, node: Node, pointer: Any = None) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            return self.vars.get(node[1])
        if kind == "pointer":
            return pointer
        if kind == "chain":
            try:
                return self.run(node[1], pointer)
            except _NilChain:
                return None
        if kind == "member":
            obj = self.run(node[1], pointer)
            if obj is None and node[3]:
                raise _NilChain
            return fetch(obj, self.run(node[2], pointer))
        if kind == "slice":
            obj = self.run(node[1], pointer)
            lo = 0 if node[2] is None else self.run(node[2], pointer)
            hi = len(obj) if node[3] is None else self.run(node[3], pointer)
            return obj[lo:hi]
        if kind == "array":
            return [self.run(n, pointer) for n in node[1]]
        if kind == "map":
            return {self.run(k, pointer): self.run(v, pointer) for k, v in node[1]}
        if kind == "cond":
            return self.run(node[2] if _bool(self.run(node[1], pointer), "?:") else node[3], pointer)
        if kind == "unary":
            return self.unary(node[1], self.run(node[2], pointer))
        if kind == "binary":
            return self.binary(node[1], node[2], node[3], pointer)
        if kind == "call":
            return self.call(node[1], node[2], pointer)
        raise ExprError(f"cannot evaluate {kind}")

    def unary(self, op: str, v: Any) -> Any:
        if op in ("not", "!"):
            return not _bool(v, op)
        if not _is_num(v):
            raise ExprError(f"invalid operation: {op} {type_name(v)}")
        return -v if op == "-" else v

    def binary(self, op: str, ln: Node, rn: Node, pointer: Any) -> Any:
        a = self.run(ln, pointer)
        if op in ("and", "&&"):
            return _bool(a, op) and _bool(self.run(rn, pointer), op)
        if op in ("or", "||"):
            return _bool(a, op) or _bool(self.run(rn, pointer), op)
        if op == "??":
            return self.run(rn, pointer) if a is None else a
        b = self.run(rn, pointer)
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        if op in ("<", ">", "<=", ">="):
            return _order(op, a, b)
        if op == "in":
            return _in(a, b)
        if op in ("matches", "contains", "startsWith", "endsWith"):
            return _string_op(op, a, b)
        if op == "..":
            return list(range(a, b + 1))
        return _arith(op, a, b)

    def call(self, callee: Node, args: list[Node], pointer: Any) -> Any:
        if callee[0] == "name" and callee[1] not in self.vars:
            return self.builtin(callee[1], args, pointer)
        fn = self.run(callee, pointer)
        if not callable(fn):
            raise ExprError(f"{type_name(fn)} is not a function")
        return _apply(fn, [self.run(a, pointer) for a in args])

    def builtin(self, name: str, args: list[Node], pointer: Any) -> Any:
        if len(args) == 2 and args[1][0] == "closure":
            items = self.run(args[0], pointer)
            if not isinstance(items, list):
                raise ExprError(f"builtin {name} takes an array, not {type_name(items)}")
            body = args[1][1]
            results = [self.run(body, item) for item in items]
            if name == "map":
                return results
            if name == "sum":
                return sum(results)
            flags = [_bool(r, name) for r in results]
            matched = [x for x, f in zip(items, flags, strict=True) if f]
            return {"all": all(flags), "any": any(flags), "none": not any(flags), "one": len(matched) == 1,
                    "filter": matched, "count": len(matched), "find": matched[0] if matched else None,
                    "findIndex": flags.index(True) if any(flags) else -1}[name]
        if name not in BUILTINS:
            raise ExprError(f"unknown func {name}")
        return _apply(BUILTINS[name], [self.run(a, pointer) for a in args])


def _apply(fn: Callable[..., Any], args: list[Any]) -> Any:
    try:
        return fn(*args)
    except ExprError:
        raise
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
        raise ExprError(str(e)) from None


def evaluate(node: Node, variables: dict[str, Any]) -> Any:
    return Evaluator(variables).run(node)
