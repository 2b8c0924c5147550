"""Sync windows (AppProject spec.syncWindows): parsing, when each is open, and whether a sync may run.

Pure: every function takes the time it evaluates at. The arithmetic is Argo CD's
(pkg/apis/application/v1alpha1 SyncWindow.active, SyncWindows.CanSync), including its quirks:

- The schedule is robfig/cron v3 with exactly five fields, evaluated in UTC on a *shifted* clock:
  a window is active when `Next(now + off - duration) < now + off`, where `off` is the window
  zone's UTC offset at the moment of evaluation. The cron runs on naive wall-clock time at today's
  offset, so across a DST change a window is measured in wall-clock time: `0 1 * * *` for 3h in
  Europe/Berlin on the spring-forward night opens at 01:00 CET and closes at 04:00 CEST, two hours
  later; a firing in the skipped hour (02:30) still counts, from 03:00 to 03:30 CEST; on the
  fall-back night a firing in the repeated hour opens twice. We do the same, so `windows --at`
  predicts what Argo CD would decide.
- A schedule that never fires within five years (`0 0 30 2 *`) makes robfig return the zero time,
  which is before now: Argo CD counts such a window as always active, and so do we.
- A `timeZone` that does not load falls back to UTC with a warning, as Argo CD's Validate does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.globs import gobwas_match
from kubectl_gitops.model import Obj

ALLOW, DENY = "allow", "deny"
WINDOW_FIELDS = frozenset({"kind", "schedule", "duration", "applications", "namespaces", "clusters", "manualSync",
                           "timeZone", "andOperator", "description", "syncOverrun"})


# -- cron (robfig/cron v3, Minute | Hour | Dom | Month | Dow) -----------------------------------------

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


# -- Go durations ---------------------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> timedelta:
    """Go's time.ParseDuration: `1h30m`, `90s`, `1.5h`, `-5m`, `0`; no days."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s[1:] if s[:1] in "+-" else s
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r} (Go syntax: 1h30m, 90s; no d)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return timedelta(seconds=sign * total)


# -- windows --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncWindow:
    project: str
    index: int
    kind: str
    schedule: str
    duration_text: str
    duration: timedelta
    cron: Cron
    zone: tzinfo
    time_zone: str  # as used: UTC when unset or invalid
    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    manual_sync: bool = False
    and_operator: bool = False
    sync_overrun: bool = False
    description: str = ""
    warning: str = ""  # an invalid timeZone, replaced by UTC

    @property
    def label(self) -> str:
        """How messages name a window: `deny "0 22 * * *" for 1h (Europe/Berlin) of project prod`."""
        zone = "" if self.time_zone == "UTC" else f" ({self.time_zone})"
        desc = f" [{self.description}]" if self.description else ""
        return f'{self.kind} window "{self.schedule}" for {self.duration_text}{zone} of project {self.project}{desc}'

    def applies_to(self, app: str, namespace: str, server: str, cluster_name: str) -> bool:
        """SyncWindows.Matches: applications, clusters (destination name or server) and namespaces
        are globs; any one selector matching is enough unless andOperator asks for all of them."""
        checks = []
        if self.applications:
            checks.append(any(_glob(p, app) for p in self.applications))
        if self.clusters:
            checks.append(any((cluster_name and _glob(p, cluster_name)) or (server and _glob(p, server))
                              for p in self.clusters))
        if self.namespaces:
            checks.append(any(_glob(p, namespace) for p in self.namespaces))
        return bool(checks) and (all(checks) if self.and_operator else any(checks))

    def _wall(self, at: datetime) -> tuple[datetime, timedelta]:
        off = at.astimezone(self.zone).utcoffset() or timedelta(0)
        return (at.astimezone(UTC) + off).replace(tzinfo=None), off

    def active(self, at: datetime) -> bool:
        wall, _ = self._wall(at)
        start = self.cron.next_after(wall - self.duration)
        return start is None or start < wall

    def span(self, at: datetime) -> Span:
        """Whether the window is open at `at`, and when it opens and closes (UTC). Times after a DST
        change are taken at the offset Argo CD will use then (one refinement step)."""
        wall, off = self._wall(at)
        start = self.cron.next_after(wall - self.duration)
        if start is None:
            return Span(active=True)
        end = self._end(start)
        closes = self._at_offset(end, off) if end else None
        if start < wall:
            return Span(active=True, opens=_utc(start, off), closes=closes)
        return Span(active=False, opens=self._at_offset(start, off), closes=closes)

    def _end(self, start: datetime) -> datetime | None:
        """Wall-clock end of the opening that starts at `start`: firings before it ends extend it.
        None: it never ends (e.g. every minute for an hour)."""
        end = start + self.duration
        for _ in range(1000):
            following = self.cron.next_after(start)
            if following is None or following >= end:
                return end
            start, end = following, max(end, following + self.duration)
        return None

    def _at_offset(self, wall: datetime, off: timedelta) -> datetime:
        guess = _utc(wall, off)
        later = guess.astimezone(self.zone).utcoffset() or timedelta(0)
        return _utc(wall, later)


@dataclass(frozen=True)
class Span:
    active: bool
    opens: datetime | None = None  # None: it never fires, so Argo CD counts it always active
    closes: datetime | None = None  # None: it never closes


def _utc(wall: datetime, off: timedelta) -> datetime:
    return (wall - off).replace(tzinfo=UTC)


def _glob(pattern: str, value: str) -> bool:
    return pattern == "*" or gobwas_match(pattern, value)


def parse_window(obj: object, *, project: str, index: int, where: str) -> SyncWindow:
    at = f"{where}: spec.syncWindows[{index}]"
    if not isinstance(obj, dict):
        raise GitopsError(f"{at}: must be a mapping")
    unknown = sorted(set(obj) - WINDOW_FIELDS)
    if unknown:
        raise GitopsError(f"{at}: unknown field {unknown[0]!r}", hint=f"known: {', '.join(sorted(WINDOW_FIELDS))}")
    kind = _str(obj, "kind", at)
    if kind not in (ALLOW, DENY):
        raise GitopsError(f"{at}.kind: {kind!r} mismatch: can only be allow or deny")
    schedule, duration_text = _str(obj, "schedule", at), _str(obj, "duration", at)
    try:
        cron = Cron.parse(schedule)
    except ValueError as e:
        raise GitopsError(f"{at}.schedule: cannot parse {schedule!r}: {e}") from None
    try:
        duration = parse_go_duration(duration_text)
    except ValueError as e:
        raise GitopsError(f"{at}.duration: {e}") from None
    selectors = {k: _strings(obj, k, at) for k in ("applications", "namespaces", "clusters")}
    if not any(selectors.values()):
        raise GitopsError(f"{at}: window {kind}:{schedule}:{duration_text} requires one of applications, "
                          "namespaces or clusters")
    zone_name, zone, warning = _zone(_str(obj, "timeZone", at, required=False), at)
    return SyncWindow(
        project=project, index=index, kind=kind, schedule=schedule, duration_text=duration_text,
        duration=duration, cron=cron, zone=zone, time_zone=zone_name, warning=warning,
        applications=selectors["applications"], namespaces=selectors["namespaces"],
        clusters=selectors["clusters"], manual_sync=_bool(obj, "manualSync", at),
        and_operator=_bool(obj, "andOperator", at), sync_overrun=_bool(obj, "syncOverrun", at),
        description=_str(obj, "description", at, required=False))


def _zone(name: str, at: str) -> tuple[str, tzinfo, str]:
    if not name or name == "UTC":
        return "UTC", UTC, ""
    try:
        return name, ZoneInfo(name), ""
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", UTC, f"{at}.timeZone: invalid time zone {name!r}; using UTC, as Argo CD does"


def _str(obj: Obj, key: str, at: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise GitopsError(f"{at}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise GitopsError(f"{at}.{key} must be a string, not {type(value).__name__}")
    return value


def _strings(obj: Obj, key: str, at: str) -> tuple[str, ...]:
    value = obj.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GitopsError(f"{at}.{key} must be a list of strings")
    return tuple(value)


def _bool(obj: Obj, key: str, at: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise GitopsError(f"{at}.{key} must be true or false, not {value!r}")
    return value


# -- the decision ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why blocked, or why allowed despite windows (manualSync)
    blocking: tuple[SyncWindow, ...] = ()
    until: datetime | None = None  # when the block lifts, if known


def can_sync(windows: tuple[SyncWindow, ...], *, manual: bool, at: datetime) -> Verdict:
    """SyncWindows.CanSync over the windows that apply to one app."""
    if not windows:
        return Verdict(True)
    active = [w for w in windows if w.active(at)]
    denies = [w for w in active if w.kind == DENY]
    if denies:
        # Argo CD's hasDeny: manual sync passes only if every active deny has manualSync.
        if manual and all(w.manual_sync for w in denies):
            return Verdict(True, "manual sync allowed by manualSync on the active deny window(s)", tuple(denies))
        closes = [c for c in (w.span(at).closes for w in denies) if c]
        until = max(closes) if len(closes) == len(denies) else None
        when = f" until {_fmt(until)}" if until else " (it does not close: it fires again before it ends)"
        return Verdict(False, f"blocked by {'; '.join(_active_label(w, at) for w in denies)}{when}",
                       tuple(denies), until)
    if any(w.kind == ALLOW for w in active):
        return Verdict(True)
    inactive_allows = [w for w in windows if w.kind == ALLOW]
    if inactive_allows:
        if manual and all(w.manual_sync for w in inactive_allows):
            return Verdict(True, "manual sync allowed by manualSync on the inactive allow window(s)",
                           tuple(inactive_allows))
        opens = [o for o in (w.span(at).opens for w in inactive_allows) if o]
        until = min(opens) if opens else None
        when = f"; the next opens at {_fmt(until)}" if until else ""
        return Verdict(False, f"blocked: no allow window is open ({'; '.join(w.label for w in inactive_allows)}){when}",
                       tuple(inactive_allows), until)
    return Verdict(True)


def may_overrun(windows: tuple[SyncWindow, ...], *, manual: bool, at: datetime) -> bool:
    """A sync that started while allowed may go on once blocked only if every window now blocking it
    has syncOverrun."""
    verdict = can_sync(windows, manual=manual, at=at)
    return verdict.allowed or all(w.sync_overrun for w in verdict.blocking)


def _active_label(w: SyncWindow, at: datetime) -> str:
    return w.label + ("" if w.manual_sync else " (manualSync not set)")


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
