"""Health of live objects, assessed the way Argo CD does (gitops-engine pkg/health, argo-cd util/lua).

A pending deletion first, then a child app's known health, then custom Lua (custom.py: argocd-cm, then
a resource_customizations directory), then the built-in check for the kind (builtin.py, one function
per kind in workloads.py, network.py, api.py, argo.py). Pure: objects and config in, statuses out; Lua
runs in a worker process (kubectl_gitops.lua).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubectl_gitops import lua
from kubectl_gitops.health import custom
from kubectl_gitops.health.builtin import BUILTIN
from kubectl_gitops.health.custom import INVALID_LUA_STATUS
from kubectl_gitops.model import ANN_IGNORE_HEALTHCHECK, ARGO_GROUP, Obj, annotations_of, group_of
from kubectl_gitops.settings import HealthConfig
from kubectl_gitops.state import HEALTH_ORDER, AppState, HealthCode, HealthStatus, SyncStatus

HEALTHY, SUSPENDED, PROGRESSING = HealthCode.HEALTHY, HealthCode.SUSPENDED, HealthCode.PROGRESSING
MISSING, DEGRADED, UNKNOWN = HealthCode.MISSING, HealthCode.DEGRADED, HealthCode.UNKNOWN
ORDER = HEALTH_ORDER

# Argo CD's hooks carry it while a sync runs; such an object is assessed even while being deleted.
HOOK_FINALIZER = "argocd.argoproj.io/hook-finalizer"

__all__ = ["DEGRADED", "HEALTHY", "INVALID_LUA_STATUS", "MISSING", "ORDER", "PROGRESSING", "SUSPENDED",
           "UNKNOWN", "HealthChecker", "HealthConfig", "HealthStatus", "app_health", "assess_health",
           "is_health_ignored", "worst"]


def worst(statuses: Iterable[str]) -> HealthCode:
    """The worst status by ORDER; Healthy when there is none.

    Anything outside ORDER (such as "" for "no status") ranks as Healthy, as in Argo CD's IsWorse.
    """
    return ORDER[max((ORDER.index(s) for s in statuses if s in ORDER), default=0)]


def is_health_ignored(obj: Obj) -> bool:
    return annotations_of(obj).get(ANN_IGNORE_HEALTHCHECK) == "true"


def app_health(results: Iterable[tuple[Obj | None, HealthStatus | None]]) -> HealthCode:
    """An app's health: the worst of its resources' (live object, health) pairs.

    A missing live object counts as Missing; objects without health or with the ignore-healthcheck
    annotation do not count.
    """
    statuses = []
    for live, health in results:
        if live is None:
            statuses.append(MISSING)
        elif health is not None and not is_health_ignored(live):
            statuses.append(health.status)
    return worst(statuses)


class HealthChecker:
    """Assesses objects: pending deletion, then a child app's known health, then custom Lua, then built-in.

    `child_apps` maps the name of an argoproj.io Application (App of Apps) to the health this tool
    computed for that child app; without an entry its own status.health is used.
    """

    def __init__(self, config: HealthConfig | None = None, *,
                 child_apps: Mapping[str, HealthStatus] | None = None,
                 time_limit: float = lua.TIME_LIMIT) -> None:
        self._scripts = custom.Scripts(config or HealthConfig())
        self._child_apps = dict(child_apps or {})
        self._time_limit = time_limit

    def check(self, obj: Obj) -> HealthStatus | None:
        """The object's health, or None for kinds that have no health (they never block a wave)."""
        group, kind = group_of(obj.get("apiVersion", "")), obj.get("kind", "")
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp") and HOOK_FINALIZER not in (meta.get("finalizers") or []):
            return HealthStatus(PROGRESSING, "Pending deletion")
        if (group, kind) == (ARGO_GROUP, "Application") and meta.get("name") in self._child_apps:
            return self._child_apps[meta["name"]]
        script = self._scripts.for_kind(group, kind)
        if script is not None:
            return custom.run(script, obj, self._time_limit)
        builtin = BUILTIN.get((group, kind))
        if builtin is None:
            return None
        try:
            return builtin(obj)
        except (ValueError, TypeError, AttributeError) as err:
            # Argo CD's typed conversion fails the same way on malformed objects
            return HealthStatus(UNKNOWN, f"cannot assess {kind} health: {err}")


def assess_health(states: list[AppState], config: HealthConfig) -> HealthChecker:
    """Each object's and each app's health. Children first, so an App of Apps root sees the health
    this run computed for its child Applications. Returns the checker sync keeps using."""
    computed: dict[str, HealthStatus] = {}
    checker = HealthChecker(config)
    for st in reversed(states):  # states are in visiting order: parents before children
        checker = HealthChecker(config, child_apps=computed)
        for rs in st.resources:
            rs.health = checker.check(rs.live) if rs.live is not None else None
        health = app_health((rs.live, rs.health) for rs in st.resources if rs.status != SyncStatus.EXTRANEOUS)
        st.health, computed[st.app.name] = health, HealthStatus(health)
    return checker
