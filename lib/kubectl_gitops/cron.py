"""Cron schedules as Argo CD's sync windows read them: robfig/cron v3 with exactly five fields
(minute, hour, day of month, month, day of week), names for months and days, and robfig's Next.
Pure; windows.py evaluates a window's schedule with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_NO_NAMES: dict[str, int] = {}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, _NO_NAMES), ("hour", 0, 23, _NO_NAMES), ("day of month", 1, 31, _NO_NAMES),
           ("month", 1, 12, {m: i + 1 for i, m in enumerate(
               ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
           ("day of week", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}))


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool  # the field began with * or ? (and had no step > 1): robfig's starBit
    dow_star: bool

    @classmethod
    def parse(cls, spec: str) -> Cron:
        spec = spec.strip()
        if not spec:
            raise ValueError("empty spec string")
        if spec.startswith(("TZ=", "CRON_TZ=")):
            raise ValueError("a TZ= prefix is not supported here; set the window's timeZone")
        if spec.startswith("@"):
            raise ValueError("descriptors such as @daily are not accepted (five fields only)")
        fields = spec.split()
        if len(fields) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {spec}")
        parsed = [_field(f, *meta) for f, meta in zip(fields, _FIELDS, strict=True)]
        (mi, _), (ho, _), (dom, dom_star), (mo, _), (dow, dow_star) = parsed
        return cls(mi, ho, dom, mo, dow, dom_star, dow_star)

    def _day(self, t: datetime) -> bool:
        dom = t.day in self.doms
        dow = (t.isoweekday() % 7) in self.dows
        # robfig: if either day field is a wildcard both must match, else either may.
        return (dom and dow) if (self.dom_star or self.dow_star) else (dom or dow)

    def next_after(self, t: datetime) -> datetime | None:
        """robfig's SpecSchedule.Next on a naive UTC clock: the first firing at or after the next
        whole second; None where robfig returns the zero time (nothing within five years)."""
        t = t.replace(microsecond=0) + timedelta(seconds=1)
        limit, added = t.year + 5, False
        while t.year <= limit:
            while t.month not in self.months:
                if not added:
                    added, t = True, t.replace(day=1, hour=0, minute=0, second=0)
                t = t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
                if t.month == 1:
                    break
            else:
                while not self._day(t):
                    if not added:
                        added, t = True, t.replace(hour=0, minute=0, second=0)
                    t += timedelta(days=1)
                    if t.day == 1:
                        break
                else:
                    while t.hour not in self.hours:
                        if not added:
                            added, t = True, t.replace(minute=0, second=0)
                        t += timedelta(hours=1)
                        if t.hour == 0:
                            break
                    else:
                        while t.minute not in self.minutes:
                            if not added:
                                added, t = True, t.replace(second=0)
                            t += timedelta(minutes=1)
                            if t.minute == 0:
                                break
                        else:
                            if t.second == 0:
                                return t
                            added, t = True, t + timedelta(seconds=60 - t.second)
        return None


def _field(expr: str, name: str, lo: int, hi: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in expr.split(","):
        bits, part_star = _range(part, lo, hi, names, name)
        values |= bits
        star = star or part_star
    return frozenset(values), star


def _range(expr: str, lo: int, hi: int, names: dict[str, int], name: str) -> tuple[set[int], bool]:
    range_step = expr.split("/")
    low_high = range_step[0].split("-")
    star = low_high[0] in ("*", "?")
    if star:
        start, end = lo, hi
    else:
        start = _int_or_name(low_high[0], names, name)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names, name)
        else:
            raise ValueError(f"too many hyphens in {name} field: {expr}")
    step = 1
    if len(range_step) == 2:
        step = _int(range_step[1], name)
        if len(low_high) == 1:
            end = hi  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    elif len(range_step) > 2:
        raise ValueError(f"too many slashes in {name} field: {expr}")
    if start < lo or end > hi or start > end or step == 0:
        raise ValueError(f"{name} field {expr!r} is out of range {lo}-{hi}")
    return set(range(start, end + 1, step)), star


def _int_or_name(s: str, names: dict[str, int], name: str) -> int:
    return names[s.lower()] if s.lower() in names else _int(s, name)


def _int(s: str, name: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", s):
        raise ValueError(f"{name} field: {s!r} is not a number")
    if int(s) < 0:
        raise ValueError(f"{name} field: negative number {s}")
    return int(s)
