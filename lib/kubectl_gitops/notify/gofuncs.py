"""Template functions: text/template's builtins and the sprig functions notification templates
commonly use, with Go's argument order (a piped value is the last argument) and its type rules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.gotmplexec import MISSING, FuncError, go_type, truth


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _basic(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    raise FuncError("invalid type for comparison")


def eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise FuncError("missing argument for comparison")
    for b in bs:
        if a is None or b is None:
            if a is b:
                return True
            continue
        if _basic(a) != _basic(b):
            raise FuncError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if _basic(a) != _basic(b) or isinstance(a, bool):
            raise FuncError("incompatible types for comparison")
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    return compare


def _and(*args: Any) -> Any:
    for a in args:
        if not truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truth(a):
            return a
    return args[-1]


def _len(v: Any) -> int:
    if isinstance(v, str | list | dict):
        return len(v)
    raise FuncError(f"len of type {go_type(v)}")


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, dict):
            item = item.get(k)
        elif isinstance(item, list | str):
            if not isinstance(k, int) or not 0 <= k < len(item):
                raise FuncError(f"index out of range: {k}")
            item = item[k]
        elif item is None:
            raise FuncError("index of untyped nil")
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _s(v: Any) -> str:
    if not isinstance(v, str):
        raise FuncError(f"wrong type for value; expected string; got {go_type(v)}")
    return v


def _i(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise FuncError(f"wrong type for value; expected int; got {go_type(v)}")
    return v


def go_print(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(gv.go_str(a))
    return "".join(out)


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([vVsdqtfFeEgGxXobc%])")


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use."""
    queue = list(args)
    out, pos = [], 0
    for m in _VERB.finditer(_s(fmt)):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_pad(_verb(verb, queue.pop(0), prec, flags), width, flags))
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={gv.go_str(a)}" for a in queue) + ")")
    return "".join(out)


def _verb(verb: str, a: Any, prec: str | None, flags: str) -> str:
    if verb in "vVs":
        text = gv.go_str(a)
        return text[:int(prec)] if prec is not None and verb == "s" else text
    if verb == "q":
        return json.dumps(gv.go_str(a), ensure_ascii=False) if not isinstance(a, int) else repr(chr(a))
    if verb == "t" and isinstance(a, bool):
        return "true" if a else "false"
    if verb in "dxXobc" and isinstance(a, int) and not isinstance(a, bool):
        sign = "+" if "+" in flags and a >= 0 else ""
        return sign + {"d": str(a), "x": f"{a:x}", "X": f"{a:X}", "o": f"{a:o}", "b": f"{a:b}", "c": chr(a)}[verb]
    if verb in "fFeEgG" and _num(a):
        p = 6 if prec is None else int(prec)
        if verb in "gG" and prec is None:
            return gv.format_float(float(a))
        return f"{'+' if '+' in flags and a >= 0 else ''}{float(a):.{p}{verb}}"
    if verb in "xX" and isinstance(a, str):
        return a.encode().hex() if verb == "x" else a.encode().hex().upper()
    return f"%!{verb}({go_type(a)}={gv.go_str(a)})"


def _pad(text: str, width: str | None, flags: str) -> str:
    if not width or width == "*":
        return text
    n = int(width)
    if "-" in flags:
        return text.ljust(n)
    return text.rjust(n, "0" if "0" in flags and text.lstrip("+-").replace(".", "").isdigit() else " ")


def _default(d: Any, *given: Any) -> Any:
    return given[0] if given and _nonempty(given[0]) else d


def _nonempty(v: Any) -> bool:
    return truth(v) if v is not MISSING else False


def _trunc(n: Any, s: Any) -> str:
    n, s = _i(n), _s(s)
    return s[:n] if n >= 0 else s[max(len(s) + n, 0):]


def _to_json(v: Any, pretty: bool = False) -> str:
    def enc(x: Any) -> Any:
        if isinstance(x, datetime):
            return x.isoformat().replace("+00:00", "Z")
        return str(x)
    if pretty:
        return json.dumps(v, indent=2, ensure_ascii=False, default=enc)
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=enc)


def _as_time(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return datetime.fromtimestamp(v, UTC).astimezone()
    # sprig formats the current time for anything that is not a time or a number.
    return gv.now()


def _date(layout: Any, when: Any) -> str:
    return gv.format_time(_as_time(when).astimezone(), _s(layout))


def _date_in_zone(layout: Any, when: Any, zone: Any) -> str:
    from zoneinfo import ZoneInfo

    tz = UTC if _s(zone) == "UTC" else ZoneInfo(zone)
    return gv.format_time(_as_time(when).astimezone(tz), _s(layout))


def _to_date(layout: Any, value: Any) -> datetime:
    if _s(layout) in ("2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00"):
        return gv.parse_rfc3339(_s(value))
    pattern = re.escape(layout)
    for tok, rx in (("2006", r"(?P<Y>\d{4})"), ("01", r"(?P<m>\d\d)"), ("02", r"(?P<d>\d\d)"),
                    ("15", r"(?P<H>\d\d)"), ("04", r"(?P<M>\d\d)"), ("05", r"(?P<S>\d\d)")):
        pattern = pattern.replace(tok, rx, 1)
    m = re.fullmatch(pattern, _s(value))
    if not m:
        raise FuncError(f'parsing time "{value}" as "{layout}": cannot parse')
    g = {k: int(v) for k, v in m.groupdict().items()}
    return datetime(g.get("Y", 0), g.get("m", 1), g.get("d", 1), g.get("H", 0), g.get("M", 0), g.get("S", 0),
                    tzinfo=UTC).astimezone()


def _quote(*args: Any, q: str = '"') -> str:
    parts = [gv.go_str(a) for a in args if a is not None and a is not MISSING]
    if q == "'":
        return " ".join(f"'{p}'" for p in parts)
    return " ".join(json.dumps(p, ensure_ascii=False) for p in parts)


def _indent(n: Any, s: Any) -> str:
    pad = " " * _i(n)
    return pad + _s(s).replace("\n", "\n" + pad)


def _num_arg(v: Any) -> int | float:
    if _num(v):
        return v
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            return 0
    return 0


def _to_int(v: Any) -> int:
    if isinstance(v, str):
        try:
            return int(float(v))
        except ValueError:
            return 0
    return int(v) if _num(v) else 0


FUNCS: dict[str, Callable[..., Any]] = {
    # text/template builtins
    "and": _and, "or": _or, "not": lambda a: not truth(a), "len": _len, "index": _index,
    "print": go_print, "println": lambda *a: " ".join(gv.go_str(x) for x in a) + "\n", "printf": sprintf,
    "eq": eq, "ne": lambda a, b: not eq(a, b), "lt": _ordered("lt"), "le": _ordered("le"), "gt": _ordered("gt"),
    "ge": _ordered("ge"), "urlquery": lambda *a: urllib.parse.quote_plus(go_print(*a)),
    "html": lambda *a: go_print(*a).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    .replace('"', "&#34;").replace("'", "&#39;"),
    "js": lambda *a: json.dumps(go_print(*a))[1:-1],
    "slice": lambda item, *ix: item[ix[0] if ix else 0:ix[1] if len(ix) > 1 else None],
    # sprig: strings
    "upper": lambda s: _s(s).upper(), "lower": lambda s: _s(s).lower(), "title": lambda s: _s(s).title(),
    "trim": lambda s: _s(s).strip(), "trimAll": lambda c, s: _s(s).strip(_s(c)),
    "trimPrefix": lambda p, s: _s(s)[len(p):] if _s(s).startswith(_s(p)) else s,
    "trimSuffix": lambda p, s: _s(s)[:-len(p)] if p and _s(s).endswith(_s(p)) else s,
    "trunc": _trunc, "replace": lambda old, new, s: _s(s).replace(_s(old), _s(new)),
    "repeat": lambda n, s: _s(s) * _i(n), "substr": lambda a, b, s: _s(s)[_i(a):_i(b)],
    "contains": lambda sub, s: _s(sub) in _s(s), "hasPrefix": lambda p, s: _s(s).startswith(_s(p)),
    "hasSuffix": lambda p, s: _s(s).endswith(_s(p)), "quote": _quote, "squote": lambda *a: _quote(*a, q="'"),
    "cat": lambda *a: " ".join(gv.go_str(x) for x in a if x is not None), "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s), "nospace": lambda s: "".join(_s(s).split()),
    "splitList": lambda sep, s: _s(s).split(_s(sep)), "join": lambda sep, xs: _s(sep).join(gv.go_str(x) for x in xs),
    "toString": gv.go_str, "b64enc": lambda s: base64.b64encode(_s(s).encode()).decode(),
    "b64dec": lambda s: base64.b64decode(_s(s)).decode(errors="replace"),
    "sha256sum": lambda s: hashlib.sha256(_s(s).encode()).hexdigest(),
    "regexMatch": lambda rx, s: re.search(_s(rx), _s(s)) is not None,
    "regexReplaceAll": lambda rx, s, repl: re.sub(_s(rx), re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", _s(repl)), _s(s)),
    "regexFind": lambda rx, s: (m.group() if (m := re.search(_s(rx), _s(s))) else ""),
    # sprig: defaults, lists, dicts, JSON
    "default": _default, "empty": lambda v: not _nonempty(v),
    "coalesce": lambda *a: next((x for x in a if _nonempty(x)), None),
    "ternary": lambda a, b, cond: a if cond else b, "toJson": _to_json, "toPrettyJson": lambda v: _to_json(v, True),
    "toRawJson": _to_json, "fromJson": json.loads, "list": lambda *a: list(a),
    "dict": lambda *a: {gv.go_str(a[i]): (a[i + 1] if i + 1 < len(a) else "") for i in range(0, len(a), 2)},
    "get": lambda m, k: m.get(k, ""), "hasKey": lambda m, k: k in m, "keys": lambda *ms: [k for m in ms for k in m],
    "first": lambda xs: xs[0] if xs else None, "last": lambda xs: xs[-1] if xs else None,
    "has": lambda x, xs: x in xs, "uniq": lambda xs: list(dict.fromkeys(xs)), "compact": lambda xs: [
        x for x in xs if _nonempty(x)],
    # sprig: numbers
    "int": _to_int, "int64": _to_int, "float64": lambda v: float(_num_arg(v)), "atoi": _to_int,
    "add": lambda *a: sum(_num_arg(x) for x in a), "add1": lambda a: _num_arg(a) + 1,
    "sub": lambda a, b: _num_arg(a) - _num_arg(b), "mul": lambda *a: _product(a),
    "div": lambda a, b: int(_num_arg(a) / _num_arg(b)), "mod": lambda a, b: _num_arg(a) % _num_arg(b),
    "max": lambda *a: max(_num_arg(x) for x in a), "min": lambda *a: min(_num_arg(x) for x in a),
    # sprig: dates
    "now": gv.now, "date": _date, "dateInZone": _date_in_zone, "toDate": _to_date,
    "unixEpoch": lambda t: str(int(_as_time(t).timestamp())), "htmlDate": lambda t: _date("2006-01-02", t),
    "ago": lambda t: gv.duration_string(int((gv.now() - _as_time(t)).total_seconds()) * 10**9),
    "duration": lambda s: gv.duration_string(_to_int(s) * 10**9),
}


def _product(args: tuple[Any, ...]) -> int | float:
    out: int | float = 1
    for a in args:
        out *= _num_arg(a)
    return out


def template_funcs() -> dict[str, Callable[..., Any]]:
    return dict(FUNCS)


__all__ = ["FUNCS", "MISSING", "go_print", "sprintf", "template_funcs"]
