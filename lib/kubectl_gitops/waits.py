"""Waiting during a sync: the deadline every wait shares, and health waits (one LIST per kind and
namespace per poll, never one GET per object)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kubectl_gitops.cluster import ApiError, ApiResource, Client
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import is_health_ignored
from kubectl_gitops.live import parallel
from kubectl_gitops.model import Obj, ResourceKey, key_of
from kubectl_gitops.state import HealthCode, HealthStatus, SyncTask, TaskResult

Log = Callable[[str], None]
HealthFn = Callable[[Obj], "HealthStatus | None"]  # live object -> health; None: the kind has no check
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 10.0  # how often a health wait reports what it waits for
# A hook's result from its health: None (no health check) counts as done.
HOOK_RESULTS = {HealthCode.HEALTHY: TaskResult.HOOK_SUCCEEDED, None: TaskResult.HOOK_SUCCEEDED,
                HealthCode.DEGRADED: TaskResult.HOOK_FAILED, HealthCode.UNKNOWN: TaskResult.HOOK_FAILED}


class SyncFailed(GitopsError):
    """The sync started writing and then failed: exit 1, and the SyncFail hooks run."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def left(self) -> float:
        return max(1.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() > self._at

    def check(self, doing: str) -> None:
        if self.expired():
            raise self.failure(doing)

    def failure(self, doing: str) -> SyncFailed:
        return SyncFailed(f"timed out after {self.seconds:.0f}s {doing}")


class HealthWait:
    def __init__(self, client: Client, health: HealthFn, deadline: Deadline, log: Log, app: str) -> None:
        self.client, self.health, self.deadline, self.log, self.app = client, health, deadline, log, app

    def wait(self, tasks: list[SyncTask]) -> None:
        """Until every task's object is Healthy (or has no health check). Degraded, a failed hook or
        the deadline fail the sync."""
        if not tasks:
            return
        pending = list(tasks)
        known = self._known(pending)
        next_log, delay = time.monotonic(), POLL_SECONDS / 8
        doing = f"waiting for {len(pending)} object(s) to become healthy, e.g. {pending[0].key}"
        while True:
            try:
                live = {**known, **self._fetch([t for t in pending if t.key not in known])}
            except ApiError as e:
                # A poll the deadline cut short (a slow API server): what timed out is the wait.
                if e.status == 0 and self.deadline.expired():
                    raise self.deadline.failure(doing) from None
                raise
            known = {}
            waiting = [t for t in pending if self._assess(t, live.get(t.key), fail=True)
                       not in (HealthCode.HEALTHY, None)]
            if not waiting:
                return
            doing = (f"waiting for {len(waiting)} object(s) to become healthy, e.g. {waiting[0].key} "
                     f"({waiting[0].health}: {waiting[0].message})")
            self.deadline.check(doing)
            if time.monotonic() >= next_log:  # progress for a CI log: at the start, then now and then
                self.log(f"{self.app}: {doing}")
                next_log = time.monotonic() + PROGRESS_SECONDS
            time.sleep(delay)  # short at first: most objects turn healthy within a second
            delay, pending = min(POLL_SECONDS, delay * 2), waiting

    def observe(self, tasks: list[SyncTask]) -> None:
        """One look: each task's health as it is now, waiting for nothing."""
        known = self._known(tasks)
        live = {**known, **self._fetch([t for t in tasks if t.key not in known])}
        for t in tasks:
            self._assess(t, live.get(t.key), fail=False)

    def _known(self, tasks: list[SyncTask]) -> dict[ResourceKey, Obj]:
        """While nothing has been written, each object is as compare listed it moments ago: fetched
        again only if it has to be (a no-change sync lists nothing here)."""
        return {t.key: t.live for t in tasks if t.live is not None} if self.client.writes == 0 else {}

    def _assess(self, t: SyncTask, obj: Obj | None, *, fail: bool) -> HealthCode | None:
        h = HealthStatus(HealthCode.MISSING, "not found") if obj is None else self.health(obj)
        if h is not None and obj is not None and is_health_ignored(obj):
            h = None  # no health check: never blocks a wave
        t.health, t.message = (h.status, h.message) if h is not None else (None, "")
        if t.hook:
            t.result = HOOK_RESULTS.get(t.health, TaskResult.HOOK_RUNNING)
        if fail and (t.health == HealthCode.DEGRADED or (t.hook and t.health == HealthCode.UNKNOWN)):
            raise SyncFailed(f"{t.key} is {t.health}: {t.message}")
        return t.health

    def _fetch(self, tasks: list[SyncTask]) -> dict[ResourceKey, Obj]:
        groups: dict[tuple[ApiResource, str], None] = {}
        for t in tasks:
            res = self.client.resource_for(t.key.group, t.key.kind)
            if res is not None:
                groups[(res, t.key.namespace if res.namespaced else "")] = None
        out: dict[ResourceKey, Obj] = {}
        for items in parallel(lambda g: self.client.list(*g), list(groups)):
            for o in items:
                out[key_of(o)] = o
        return out
