"""Go value semantics that expressions and templates share: time.Duration, time.Time (an aware
datetime), Go's reference-time layouts, and fmt's %v printing of values decoded from JSON/YAML."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from kubectl_gitops.goduration import NANOS, parse_go_duration


class Duration(int):
    """time.Duration: an int of nanoseconds that keeps its type through arithmetic."""

    def __add__(self, o: Any) -> Any:
        return Duration(int(self) + o) if isinstance(o, int) and not isinstance(o, bool) else NotImplemented

    __radd__ = __add__

    def __sub__(self, o: Any) -> Any:
        return Duration(int(self) - o) if isinstance(o, int) and not isinstance(o, bool) else NotImplemented

    def __rsub__(self, o: Any) -> Any:
        return Duration(o - int(self)) if isinstance(o, int) and not isinstance(o, bool) else NotImplemented

    def __mul__(self, o: Any) -> Any:
        return Duration(int(self) * o) if isinstance(o, int) and not isinstance(o, bool) else NotImplemented

    __rmul__ = __mul__

    def __neg__(self) -> Duration:
        return Duration(-int(self))

    def Hours(self) -> float:
        return int(self) / NANOS["h"]

    def Minutes(self) -> float:
        return int(self) / NANOS["m"]

    def Seconds(self) -> float:
        return int(self) / NANOS["s"]

    def Milliseconds(self) -> int:
        return int(self) // NANOS["ms"]

    def String(self) -> str:
        return duration_string(self)


def duration_string(d: int) -> str:
    """time.Duration.String: 1h2m3.5s, 1.5ms, 0s."""
    if d == 0:
        return "0s"
    sign, u = ("-", -d) if d < 0 else ("", d)
    if u < NANOS["s"]:
        for unit, size in (("ms", NANOS["ms"]), ("µs", NANOS["us"]), ("ns", 1)):
            if u >= size:
                return sign + _trim_fraction(u, size) + unit
    h, rest = divmod(u, NANOS["h"])
    m, rest = divmod(rest, NANOS["m"])
    out = f"{h}h" if h else ""
    out += f"{m}m" if h or m else ""
    return sign + out + _trim_fraction(rest, NANOS["s"]) + "s"


def _trim_fraction(n: int, size: int) -> str:
    whole, frac = divmod(n, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{str(frac).rjust(width, '0').rstrip('0')}"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "0": "\0"}


def unquote(body: str) -> str:
    """A quoted string's body with Go's escapes (\\n, \\", \\xHH, \\uHHHH, \\UHHHHHHHH) resolved;
    ValueError names a bad escape and its 0-based offset."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        width = {"x": 2, "u": 4, "U": 8}.get(nxt, 0)
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        elif width and re.fullmatch(r"[0-9a-fA-F]+", body[i + 2:i + 2 + width] or "-"):
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
        else:
            raise ValueError(f"invalid escape \\{nxt} at offset {i}")
        i += 2 + width
    return "".join(out)


def parse_duration(text: str) -> Duration:
    """time.ParseDuration: "90s", "1h30m", "1.5h"."""
    return Duration(parse_go_duration(text))


def parse_rfc3339(text: str) -> datetime:
    """time.Parse(time.RFC3339, s), as Argo CD's expression helper time.Parse does."""
    if not isinstance(text, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text):
        raise ValueError(f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse')
    main, frac, zone = re.match(r"(.{19})(\.\d+)?(.*)", text).groups()  # type: ignore[union-attr]
    dt = datetime.fromisoformat(main + ("+00:00" if zone == "Z" else zone))
    micros = int((frac or ".0")[1:7].ljust(6, "0"))
    return dt.replace(microsecond=micros)


def add_duration(t: datetime, d: int) -> datetime:
    return t + timedelta(microseconds=d // 1000)


def sub_times(a: datetime, b: datetime) -> Duration:
    delta = a - b
    return Duration((delta.days * 86_400 + delta.seconds) * NANOS["s"] + delta.microseconds * 1000)


def now() -> datetime:
    return datetime.now(UTC).astimezone()


# Go's reference time, Mon Jan 2 15:04:05 MST 2006, one token per element, longest first.
_LAYOUT = re.compile(r"January|Jan|Monday|Mon|MST|2006|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|"
                     r"Z07:00|Z0700|Z07|[.,][09]+|002|__2|_2|01|02|03|04|05|06|15|PM|pm|1|2|3|4|5")
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def format_time(t: datetime, layout: str) -> str:
    """time.Time.Format with Go's reference-time layout."""
    out, pos = [], 0
    for m in _LAYOUT.finditer(layout):
        out.append(layout[pos:m.start()])
        out.append(_format_token(t, m.group()))
        pos = m.end()
    out.append(layout[pos:])
    return "".join(out)


def _format_token(t: datetime, tok: str) -> str:
    offset = t.utcoffset() or timedelta(0)
    simple = {
        "January": _MONTHS[t.month - 1], "Jan": _MONTHS[t.month - 1][:3], "Monday": _DAYS[t.weekday()],
        "Mon": _DAYS[t.weekday()][:3], "2006": f"{t.year:04d}", "06": f"{t.year % 100:02d}",
        "01": f"{t.month:02d}", "1": str(t.month), "02": f"{t.day:02d}", "2": str(t.day), "_2": f"{t.day:>2}",
        "002": f"{t.timetuple().tm_yday:03d}", "__2": f"{t.timetuple().tm_yday:>3}", "15": f"{t.hour:02d}",
        "03": f"{(t.hour % 12) or 12:02d}", "3": str((t.hour % 12) or 12), "04": f"{t.minute:02d}",
        "4": str(t.minute), "05": f"{t.second:02d}", "5": str(t.second), "PM": "PM" if t.hour >= 12 else "AM",
        "pm": "pm" if t.hour >= 12 else "am", "MST": _zone_name(t),
    }
    if tok in simple:
        return simple[tok]
    if tok[0] in ".,":
        digits = f"{t.microsecond:06d}000"[:len(tok) - 1]
        if tok[1] == "9":
            digits = digits.rstrip("0")
            return tok[0] + digits if digits else ""
        return tok[0] + digits
    if tok.startswith("Z") and not offset:
        return "Z"
    secs = int(offset.total_seconds())
    sign, secs = ("-", -secs) if secs < 0 else ("+", secs)
    hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
    body = tok.lstrip("Z-")
    colon = ":" if ":" in body else ""
    parts = [f"{hh:02d}"] + ([f"{mm:02d}"] if len(body.replace(":", "")) >= 4 else []) + (
        [f"{ss:02d}"] if len(body.replace(":", "")) == 6 else [])
    return sign + colon.join(parts)


def _zone_name(t: datetime) -> str:
    name = t.tzname() or "UTC"
    if name.startswith("UTC") and name != "UTC":
        # Go prints a numeric zone without a name as -0700.
        return _format_token(t, "-0700")
    return name


def time_string(t: datetime) -> str:
    """time.Time.String (what {{now}} or %v prints)."""
    return format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST")


def as_utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def go_str(v: Any) -> str:
    """fmt.Sprint of a value decoded from JSON/YAML (%v)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Duration):
        return duration_string(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return time_string(v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted(v, key=str)) + "]"
    return str(v)


def format_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64) as %v prints it: shortest digits, exponent from 1e6 or below 1e-4."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    point = len(ds) + int(exp)  # position of the decimal point in ds
    x = point - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return neg + ds + "0" * (point - len(ds))
    return f"{neg}{ds[:point]}.{ds[point:]}"
