"""Sync window arithmetic against a fixed clock: robfig cron, Go durations, time zones (a real DST
change), windows across midnight, and Argo CD's CanSync combination."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubectl_gitops.cron import Cron
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.globs import go_path_match, gobwas_match
from kubectl_gitops.goduration import parse_go_duration
from kubectl_gitops.windows import can_sync, may_overrun, parse_window


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def win(**kw: object):
    spec = {"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "applications": ["*"], **kw}
    return parse_window(spec, project="p", index=0, where="proj.yaml: AppProject p")


# -- globs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "value", "seps", "expected"), [
    ("https://git.example.com/platform/*", "https://git.example.com/platform/api", "/", True),
    ("https://git.example.com/platform/*", "https://git.example.com/platform/a/b", "/", False),  # * stops at /
    ("https://git.example.com/**", "https://git.example.com/platform/a/b", "/", True),
    ("*-prod", "shop/api-prod", "", True),  # no separators: * crosses /
    ("api-{dev,staging}", "api-staging", "", True),
    ("api-{dev,staging}", "api-prod", "", False),
    ("[!a]pi", "bpi", "", True),
    ("[!a]pi", "api", "", False),
    ("[a-c]?", "bz", "", True),
    ("web-[", "web-[", "", False),  # does not compile: matches nothing
    ("a\\*b", "a*b", "", True),
])
def test_gobwas(pattern: str, value: str, seps: str, expected: bool) -> None:
    assert gobwas_match(pattern, value, seps) is expected


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*", "", True), ("", "", True), ("", "apps", False), ("apps", "apps", True),
    ("*.k8s.io", "rbac.authorization.k8s.io", True), ("Cluster*", "ClusterRole", True),
    ("[^C]*", "ClusterRole", False), ("[", "[", False), ("{a,b}", "a", False),
])
def test_go_path_match(pattern: str, value: str, expected: bool) -> None:
    assert go_path_match(pattern, value) is expected


# -- cron and durations ---------------------------------------------------------------------------

def test_cron_next_is_strictly_after_the_current_second() -> None:
    c = Cron.parse("0 22 * * *")
    assert c.next_after(datetime(2026, 12, 1, 22, 0, 0)) == datetime(2026, 12, 2, 22, 0)
    assert c.next_after(datetime(2026, 12, 1, 21, 59, 59, 500000)) == datetime(2026, 12, 1, 22, 0)


def test_cron_day_fields_or_unless_one_is_a_wildcard() -> None:
    # Both restricted: the 1st of the month OR any Monday (2026-12-07 is a Monday).
    assert Cron.parse("0 0 1 * 1").next_after(datetime(2026, 12, 2)) == datetime(2026, 12, 7)
    # dom wildcard: Mondays only.
    assert Cron.parse("0 0 * * mon").next_after(datetime(2026, 12, 2)) == datetime(2026, 12, 7)
    # */2 with a step is not a wildcard for robfig: odd days OR Mondays.
    assert Cron.parse("0 0 */2 * 1").next_after(datetime(2026, 12, 1, 1)) == datetime(2026, 12, 3)


def test_cron_names_ranges_steps_and_year_wrap() -> None:
    c = Cron.parse("30 9-17/4 * JAN,feb *")
    assert c.next_after(datetime(2026, 12, 1)) == datetime(2027, 1, 1, 9, 30)
    assert c.next_after(datetime(2027, 1, 1, 9, 30)) == datetime(2027, 1, 1, 13, 30)


def test_cron_that_never_fires_returns_none() -> None:
    assert Cron.parse("0 0 30 2 *").next_after(datetime(2026, 12, 1)) is None


@pytest.mark.parametrize("spec", ["@daily", "0 0 * * * *", "* * *", "60 * * * *", "* * * * 7",
                                  "5-1 * * * *", "*/0 * * * *", "CRON_TZ=UTC 0 0 * * *", ""])
def test_cron_rejects_what_robfig_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        Cron.parse(spec)


@pytest.mark.parametrize(("text", "seconds"), [("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("0", 0),
                                               ("-5m", -300), ("500ms", 0.5), ("2h0m0s", 7200)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds * 10**9


@pytest.mark.parametrize("text", ["1d", "", "h", "1", "1h 30m", "."])
def test_go_durations_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


# -- activity -------------------------------------------------------------------------------------

def test_window_across_midnight() -> None:
    w = win(schedule="0 22 * * *", duration="4h")
    assert not w.active(utc(2026, 12, 1, 21, 59))
    assert not w.active(utc(2026, 12, 1, 22, 0, 0))  # Next(...) < now is strict: open just after
    assert w.active(utc(2026, 12, 1, 22, 0, 1))
    assert w.active(utc(2026, 12, 2, 1, 59))
    assert not w.active(utc(2026, 12, 2, 2, 0, 0))
    span = w.span(utc(2026, 12, 2, 1, 0))
    assert span.active and span.opens == utc(2026, 12, 1, 22) and span.closes == utc(2026, 12, 2, 2)
    span = w.span(utc(2026, 12, 2, 3, 0))
    assert not span.active and span.opens == utc(2026, 12, 2, 22) and span.closes == utc(2026, 12, 3, 2)


def test_time_zone_shifts_the_schedule() -> None:
    w = win(schedule="0 9 * * *", duration="1h", timeZone="Asia/Tokyo")  # 09:00 JST = 00:00 UTC
    assert w.active(utc(2026, 12, 1, 0, 30))
    assert not w.active(utc(2026, 12, 1, 9, 30))


def test_dst_spring_forward_as_argo_cd() -> None:
    # Europe/Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC on 2026-03-29.
    w = win(schedule="0 1 * * *", duration="3h", timeZone="Europe/Berlin")
    assert w.active(utc(2026, 3, 29, 0, 30))  # 01:30 CET
    assert w.active(utc(2026, 3, 29, 1, 30))  # 03:30 CEST
    # Argo CD runs the cron on wall-clock time at the current offset: it closes at 04:00 CEST
    # (02:00 UTC), after two hours, not three.
    assert not w.active(utc(2026, 3, 29, 2, 0, 1))
    assert w.span(utc(2026, 3, 29, 0, 30)).closes == utc(2026, 3, 29, 2)
    # A firing inside the skipped hour still opens: 02:30 for 1h is open 03:00-03:30 CEST.
    skipped = win(schedule="30 2 * * *", duration="1h", timeZone="Europe/Berlin")
    assert not skipped.active(utc(2026, 3, 29, 0, 59))
    assert skipped.active(utc(2026, 3, 29, 1, 10))
    assert not skipped.active(utc(2026, 3, 29, 1, 31))


def test_dst_fall_back_opens_twice() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so 02:30 local happens twice.
    w = win(schedule="30 2 * * *", duration="20m", timeZone="Europe/Berlin")
    assert w.active(utc(2026, 10, 25, 0, 40))  # 02:40 CEST
    assert not w.active(utc(2026, 10, 25, 1, 5))  # 02:05 CET
    assert w.active(utc(2026, 10, 25, 1, 40))  # 02:40 CET


def test_overlapping_firings_extend_an_opening() -> None:
    w = win(schedule="0,30 22 * * *", duration="45m")
    assert w.span(utc(2026, 12, 1, 22, 10)).closes == utc(2026, 12, 1, 23, 15)
    assert win(schedule="* * * * *", duration="1h").span(utc(2026, 12, 1, 12)).closes is None


def test_never_firing_window_counts_as_always_active() -> None:
    assert win(schedule="0 0 30 2 *").active(utc(2026, 12, 1, 12))


def test_invalid_time_zone_falls_back_to_utc_with_a_warning() -> None:
    w = win(timeZone="Mars/Olympus")
    assert w.time_zone == "UTC" and "Mars/Olympus" in w.warning
    assert w.active(utc(2026, 12, 1, 22, 30))


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "maybe"}, "can only be allow or deny"),
    ({"schedule": "@daily"}, r"syncWindows\[0\]\.schedule"),
    ({"duration": "1d"}, r"syncWindows\[0\]\.duration"),
    ({"applications": []}, "requires one of applications"),
    ({"manualSync": "yes"}, "manualSync must be true or false"),
    ({"applications": "web"}, "applications must be a list"),
    ({"when": "now"}, "unknown field 'when'"),
])
def test_invalid_windows_name_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(GitopsError, match=message):
        win(**spec)


# -- matching -------------------------------------------------------------------------------------

def test_selectors_or_unless_and_operator() -> None:
    w = win(applications=["web-*"], namespaces=["prod"], clusters=["in-cluster"])
    assert w.applies_to("web-dev", "dev", "https://x", "other")
    assert w.applies_to("api", "prod", "https://x", "other")
    assert w.applies_to("api", "dev", "https://x", "in-cluster")
    assert not w.applies_to("api", "dev", "https://x", "other")
    a = win(applications=["web-*"], namespaces=["prod"], andOperator=True)
    assert a.applies_to("web-1", "prod", "", "")
    assert not a.applies_to("web-1", "dev", "", "")
    servers = win(applications=[], clusters=["https://kubernetes.default.svc"])
    assert servers.applies_to("x", "y", "https://kubernetes.default.svc", "")


# -- CanSync --------------------------------------------------------------------------------------

NIGHT = utc(2026, 12, 1, 22, 30)  # the deny windows below are active, the allow windows not
NOON = utc(2026, 12, 1, 12, 0)


def test_no_windows_allow() -> None:
    assert can_sync((), manual=False, at=NIGHT).allowed


def test_active_deny_blocks_and_names_when_it_closes() -> None:
    v = can_sync((win(),), manual=True, at=NIGHT)
    assert not v.allowed
    assert 'deny window "0 22 * * *" for 1h of project p' in v.reason
    assert "until 2026-12-01T23:00:00Z" in v.reason and v.until == utc(2026, 12, 1, 23)
    assert can_sync((win(),), manual=False, at=NOON).allowed


def test_manual_sync_passes_only_if_every_active_deny_allows_it() -> None:
    ok = win(manualSync=True)
    other = win(schedule="0 20 * * *", duration="3h")
    assert can_sync((ok,), manual=True, at=NIGHT).allowed
    assert not can_sync((ok,), manual=False, at=NIGHT).allowed
    assert not can_sync((ok, other), manual=True, at=NIGHT).allowed


def test_inactive_allow_blocks_until_it_opens() -> None:
    allow = win(kind="allow", schedule="0 2 * * *", duration="2h")
    v = can_sync((allow,), manual=True, at=NOON)
    assert not v.allowed and v.until == utc(2026, 12, 2, 2) and "the next opens at 2026-12-02T02:00:00Z" in v.reason
    assert can_sync((allow,), manual=False, at=utc(2026, 12, 2, 3)).allowed
    manual = win(kind="allow", schedule="0 2 * * *", duration="2h", manualSync=True)
    assert can_sync((manual,), manual=True, at=NOON).allowed
    assert not can_sync((manual, allow), manual=True, at=NOON).allowed


def test_active_allow_wins_over_inactive_allow_but_not_over_deny() -> None:
    open_allow = win(kind="allow", schedule="0 12 * * *", duration="1h")
    closed_allow = win(kind="allow", schedule="0 2 * * *", duration="1h")
    assert can_sync((open_allow, closed_allow), manual=False, at=utc(2026, 12, 1, 12, 30)).allowed
    deny = win(schedule="0 12 * * *", duration="1h")
    assert not can_sync((open_allow, deny), manual=False, at=utc(2026, 12, 1, 12, 30)).allowed


def test_sync_overrun() -> None:
    plain, overrun = win(), win(syncOverrun=True)
    assert not may_overrun((plain,), manual=False, at=NIGHT)
    assert may_overrun((overrun,), manual=False, at=NIGHT)
    assert may_overrun((plain,), manual=False, at=NOON)
