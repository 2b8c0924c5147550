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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubectl_gitops.cron import Cron
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.globs import gobwas_match
from kubectl_gitops.goduration import parse_go_duration
from kubectl_gitops.model import Obj

ALLOW, DENY = "allow", "deny"
WINDOW_FIELDS = frozenset({"kind", "schedule", "duration", "applications", "namespaces", "clusters", "manualSync",
                           "timeZone", "andOperator", "description", "syncOverrun"})


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
        duration = timedelta(microseconds=parse_go_duration(duration_text.strip()) / 1000)
    except ValueError as e:
        raise GitopsError(f"{at}.duration: {e} (Go syntax: 1h30m, 90s; no d)") from None
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
