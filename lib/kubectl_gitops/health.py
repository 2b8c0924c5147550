"""Health of live objects, assessed the way Argo CD does (gitops-engine pkg/health, argo-cd util/lua).

One small function per built-in kind, dispatched by (group, kind); custom Lua checks from an argocd-cm
style config override them. Pure: objects and config in, statuses out (Lua runs in-process, see lua.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_gitops import lua
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ANN_IGNORE_HEALTHCHECK, ARGO_GROUP, Obj, annotations_of, group_of
from kubectl_gitops.settings import HealthConfig
from kubectl_gitops.state import HEALTH_ORDER, AppState, HealthCode, HealthStatus, SyncStatus

HEALTHY, SUSPENDED, PROGRESSING = HealthCode.HEALTHY, HealthCode.SUSPENDED, HealthCode.PROGRESSING
MISSING, DEGRADED, UNKNOWN = HealthCode.MISSING, HealthCode.DEGRADED, HealthCode.UNKNOWN
ORDER = HEALTH_ORDER

INVALID_LUA_STATUS = "Lua returned an invalid health status"  # Argo CD's wording


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


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Argo CD's key globs (gobwas/glob without separators): * ? [abc] [!a-z] {x,y} and \\ escapes."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError("unclosed [")
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            chars = "".join(ch if ch == "-" else re.escape(ch) for ch in body[negate:])
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "," and depth:
            out.append("|")
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise ValueError("unclosed {")
    return re.compile("".join(out) + r"\Z", re.DOTALL)


_GLOB_CHARS = frozenset("*?[{\\")


# --- the checker ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Script:
    key: str  # the config key it came from, to name it in messages
    source: str
    open_libs: bool


class HealthChecker:
    """Assesses objects: pending deletion, then a child app's known health, then custom Lua, then built-in.

    `child_apps` maps the name of an argoproj.io Application (App of Apps) to the health this tool
    computed for that child app; without an entry its own status.health is used.
    """

    def __init__(self, config: HealthConfig | None = None, *,
                 child_apps: Mapping[str, HealthStatus] | None = None,
                 time_limit: float = lua.TIME_LIMIT) -> None:
        self._config = config or HealthConfig()
        self._child_apps = dict(child_apps or {})
        self._time_limit = time_limit
        self._globs = _compile_globs(self._config.scripts)
        self._scripts: dict[tuple[str, str], _Script | None] = {}

    def check(self, obj: Obj) -> HealthStatus | None:
        """The object's health, or None for kinds that have no health (they never block a wave)."""
        group, kind = group_of(obj.get("apiVersion", "")), obj.get("kind", "")
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return HealthStatus(PROGRESSING, "Pending deletion")
        if (group, kind) == (ARGO_GROUP, "Application") and meta.get("name") in self._child_apps:
            return self._child_apps[meta["name"]]
        script = self._script_for(group, kind)
        if script is not None:
            return self._run_lua(script, obj)
        builtin = _BUILTIN.get((group, kind))
        if builtin is None:
            return None
        try:
            return builtin(obj)
        except (ValueError, TypeError, AttributeError) as err:
            # Argo CD's typed conversion fails the same way on malformed objects
            return HealthStatus(UNKNOWN, f"cannot assess {kind} health: {err}")

    def _script_for(self, group: str, kind: str) -> _Script | None:
        """The custom script for a kind: the exact key first, then the most specific matching glob."""
        if (group, kind) not in self._scripts:
            self._scripts[group, kind] = self._lookup(f"{group}/{kind}" if group else kind)
        return self._scripts[group, kind]

    def _lookup(self, wanted: str) -> _Script | None:
        scripts = self._config.scripts
        if wanted in scripts:
            return _Script(wanted, scripts[wanted], wanted in self._config.open_libs)
        # Argo CD takes whichever matching key its map iteration yields first; we pick deterministically.
        for key, regex in self._globs:
            if regex.match(wanted):
                return _Script(key, scripts[key], key in self._config.open_libs)
        return None

    def _run_lua(self, script: _Script, obj: Obj) -> HealthStatus | None:
        name = f"{script.key}/health.lua"
        try:
            result = lua.run_script(script.source, obj, name=name, open_libs=script.open_libs,
                                    time_limit=self._time_limit)
        except lua.LuaScriptError as err:
            return HealthStatus(UNKNOWN, str(err))
        return _lua_health(result, name)


def _compile_globs(scripts: Mapping[str, str]) -> list[tuple[str, re.Pattern[str]]]:
    globs = []
    for key in scripts:
        if _GLOB_CHARS.isdisjoint(key):
            continue
        try:
            globs.append((key, _glob_regex(key)))
        except ValueError as err:
            raise GitopsError(f"resource customization key {key!r} is not a valid pattern: {err}") from None
    return sorted(globs, key=lambda kv: (-len(kv[0]), kv[0]))


def _lua_health(result: Any, name: str) -> HealthStatus | None:
    """Read a script's result the way Argo CD unmarshals it into a HealthStatus.

    nil or an empty/array table gives an empty status, which Argo CD shows as no health; Go's JSON
    decoding matches field names case-insensitively.
    """
    if not isinstance(result, dict):
        if result is None or isinstance(result, list):
            return None
        return HealthStatus(UNKNOWN, f"{name}: expect table output from Lua script, not {_json_type(result)}")
    fields = {}
    for wanted in ("status", "message"):
        value = result.get(wanted, next((v for k, v in result.items() if k.lower() == wanted), ""))
        if not isinstance(value, str):
            return HealthStatus(UNKNOWN, f"{name}: health {wanted} must be a string, not {_json_type(value)}")
        fields[wanted] = value
    if fields["status"] not in ORDER:
        return HealthStatus(UNKNOWN, INVALID_LUA_STATUS)
    return HealthStatus(HealthCode(fields["status"]), fields["message"])


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


# --- built-in checks: one function per kind -------------------------------------------------------


def _status(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: Obj) -> dict[str, Any]:
    return obj.get("spec") or {}


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _generation(obj: Obj) -> int:
    return _int((obj.get("metadata") or {}).get("generation"))


def _int(value: Any) -> int:
    """An integer field as Go's typed structs read it: absent is 0, anything but a whole number is an error."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _optional_int(value: Any) -> int | None:
    """A pointer field (spec.replicas, partition): absent stays absent."""
    return None if value is None else _int(value)


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def _q(text: str) -> str:
    """Go's %q for the names that appear in messages."""
    return json.dumps(text, ensure_ascii=False)


def _deployment(obj: Obj) -> HealthStatus:
    spec, st = _spec(obj), _status(obj)
    if spec.get("paused") is True:
        return HealthStatus(SUSPENDED, "Deployment is paused")
    if _generation(obj) > _int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed deployment generation less "
                                         "than desired generation")
    progressing = _condition(st, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthStatus(DEGRADED, f"Deployment {_q(_name(obj))} exceeded its progress deadline")
    desired = _optional_int(spec.get("replicas"))
    updated, current = _int(st.get("updatedReplicas")), _int(st.get("replicas"))
    available = _int(st.get("availableReplicas"))
    if desired is not None and updated < desired:
        return HealthStatus(PROGRESSING, f"Waiting for rollout to finish: {updated} out of {desired} new "
                                         "replicas have been updated...")
    if current > updated:
        return HealthStatus(PROGRESSING, f"Waiting for rollout to finish: {current - updated} old replicas "
                                         "are pending termination...")
    if available < updated:
        return HealthStatus(PROGRESSING, f"Waiting for rollout to finish: {available} of {updated} updated "
                                         "replicas are available...")
    return HealthStatus(HEALTHY)


def _statefulset(obj: Obj) -> HealthStatus:
    spec, st = _spec(obj), _status(obj)
    observed = _int(st.get("observedGeneration"))
    if observed == 0 or _generation(obj) > observed:
        return HealthStatus(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    desired = _optional_int(spec.get("replicas"))
    ready, updated = _int(st.get("readyReplicas")), _int(st.get("updatedReplicas"))
    if desired is not None and ready < desired:
        return HealthStatus(PROGRESSING, f"Waiting for {desired - ready} pods to be ready...")
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "RollingUpdate" and rolling is not None:
        partition = _optional_int(rolling.get("partition"))
        if desired is not None and partition is not None and updated < desired - partition:
            return HealthStatus(PROGRESSING, f"Waiting for partitioned roll out to finish: {updated} out of "
                                             f"{desired - partition} new pods have been updated...")
        return HealthStatus(HEALTHY, f"partitioned roll out complete: {updated} new pods have been updated...")
    if strategy.get("type") == "OnDelete":
        return HealthStatus(HEALTHY, f"statefulset has {ready} ready pods")
    update_rev, current_rev = st.get("updateRevision", ""), st.get("currentRevision", "")
    if update_rev != current_rev:
        return HealthStatus(PROGRESSING, f"waiting for statefulset rolling update to complete {updated} pods "
                                         f"at revision {update_rev}...")
    return HealthStatus(HEALTHY, f"statefulset rolling update complete {_int(st.get('currentReplicas'))} pods "
                                 f"at revision {current_rev}...")


def _daemonset(obj: Obj) -> HealthStatus:
    spec, st = _spec(obj), _status(obj)
    if _generation(obj) > _int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed daemon set generation less "
                                         "than desired generation")
    desired, updated = _int(st.get("desiredNumberScheduled")), _int(st.get("updatedNumberScheduled"))
    available = _int(st.get("numberAvailable"))
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return HealthStatus(HEALTHY, f"daemon set {updated} out of {desired} new pods have been updated")
    if updated < desired:
        return HealthStatus(PROGRESSING, f"Waiting for daemon set {_q(_name(obj))} rollout to finish: {updated} "
                                         f"out of {desired} new pods have been updated...")
    if available < desired:
        return HealthStatus(PROGRESSING, f"Waiting for daemon set {_q(_name(obj))} rollout to finish: "
                                         f"{available} of {desired} updated pods are available...")
    return HealthStatus(HEALTHY)


def _replicaset(obj: Obj) -> HealthStatus:
    st = _status(obj)
    if _generation(obj) > _int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed replica set generation less "
                                         "than desired generation")
    failure = _condition(st, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return HealthStatus(DEGRADED, failure.get("message", ""))
    desired, available = _optional_int(_spec(obj).get("replicas")), _int(st.get("availableReplicas"))
    if desired is not None and available < desired:
        return HealthStatus(PROGRESSING, f"Waiting for rollout to finish: {available} out of {desired} new "
                                         "replicas are available...")
    return HealthStatus(HEALTHY)


def _job(obj: Obj) -> HealthStatus:
    # Argo CD also counts a Suspended condition with status False (a resumed Job) as finished and so
    # Healthy; we only count true conditions, so a resumed Job is Progressing until it completes.
    conditions = {c.get("type"): c for c in _status(obj).get("conditions") or [] if c.get("status") == "True"}
    if "Failed" in conditions:
        return HealthStatus(DEGRADED, conditions["Failed"].get("message", ""))
    if "Suspended" in conditions:
        return HealthStatus(SUSPENDED, conditions["Suspended"].get("message", ""))
    if "Complete" in conditions:
        return HealthStatus(HEALTHY, conditions["Complete"].get("message", ""))
    return HealthStatus(PROGRESSING)


def _pod(obj: Obj) -> HealthStatus:
    spec, st = _spec(obj), _status(obj)
    # the API server defaults restartPolicy to Always
    policy = spec.get("restartPolicy") or "Always"
    message = st.get("message", "")
    statuses = st.get("containerStatuses") or []
    if policy == "Always":
        # Not for Never/OnFailure pods: those are usually hooks, which must not fail on a transient
        # ImagePullBackOff (Argo CD's reasoning).
        waiting = [(s.get("state") or {}).get("waiting") or {} for s in statuses]
        failing = [w.get("message", "") for w in waiting if _is_error_reason(w.get("reason", ""))]
        if failing:
            return HealthStatus(DEGRADED, ", ".join(failing))
    phase = st.get("phase")
    if phase == "Pending":
        return HealthStatus(PROGRESSING, message)
    if phase == "Succeeded":
        return HealthStatus(HEALTHY, message)
    if phase == "Failed":
        return HealthStatus(DEGRADED, message or _pod_fail_message(st))
    if phase == "Running" and policy == "Always":
        if (_condition(st, "Ready") or {}).get("status") == "True":
            return HealthStatus(HEALTHY, message)
        if any(((s.get("lastState") or {}).get("terminated")) for s in statuses):
            return HealthStatus(DEGRADED, message)
        return HealthStatus(PROGRESSING, message)
    if phase == "Running":
        # Never/OnFailure pods have a finite life (typically hooks): running is not done yet.
        return HealthStatus(PROGRESSING, message)
    return HealthStatus(UNKNOWN, message)


def _is_error_reason(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")


def _pod_fail_message(status: dict[str, Any]) -> str:
    for ctr in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        terminated = (ctr.get("state") or {}).get("terminated")
        if not terminated:
            continue
        if terminated.get("message"):
            return terminated["message"]
        if terminated.get("reason") == "OOMKilled":
            return "OOMKilled"
        if _int(terminated.get("exitCode")) != 0:
            return f"container {_q(ctr.get('name', ''))} failed with exit code {_int(terminated['exitCode'])}"
    return ""


_PROVISIONER_ANNOTATIONS = {"volume.beta.kubernetes.io/storage-provisioner",
                            "volume.kubernetes.io/storage-provisioner"}


def _pvc(obj: Obj) -> HealthStatus:
    phase = _status(obj).get("phase")
    if phase == "Bound":
        return HealthStatus(HEALTHY)
    if phase == "Lost":
        return HealthStatus(DEGRADED)
    if phase == "Pending":
        # A provisioner annotation means a volume is being made; without one the claim waits for a pod
        # (WaitForFirstConsumer), which must not block the wave that creates that pod. Argo CD looks at
        # the beta annotation only; current Kubernetes also sets the GA one.
        if _PROVISIONER_ANNOTATIONS & annotations_of(obj).keys():
            return HealthStatus(PROGRESSING, "Provisioning volume")
        return HealthStatus(HEALTHY, "Waiting for consumer")
    return HealthStatus(UNKNOWN)


def _has_lb_ingress(obj: Obj) -> bool:
    return bool((_status(obj).get("loadBalancer") or {}).get("ingress"))


def _service(obj: Obj) -> HealthStatus:
    if _spec(obj).get("type") == "LoadBalancer" and not _has_lb_ingress(obj):
        return HealthStatus(PROGRESSING)
    return HealthStatus(HEALTHY)


def _ingress(obj: Obj) -> HealthStatus:
    return HealthStatus(HEALTHY if _has_lb_ingress(obj) else PROGRESSING)


def _apiservice(obj: Obj) -> HealthStatus:
    available = _condition(_status(obj), "Available")
    if available is None:
        return HealthStatus(PROGRESSING, "Waiting to be processed")
    message = f"{available.get('reason', '')}: {available.get('message', '')}"
    return HealthStatus(HEALTHY if available.get("status") == "True" else PROGRESSING, message)


_HPA_WAITING = HealthStatus(PROGRESSING, "Waiting to Autoscale")
_HPA_DEGRADED_REASONS = {
    ("AbleToScale", "FailedGetScale"), ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"), ("ScalingActive", "InvalidSelector"),
}


def _hpa(obj: Obj) -> HealthStatus:
    if obj.get("apiVersion") == "autoscaling/v1":
        # v1 keeps the conditions as JSON in an annotation
        raw = annotations_of(obj).get("autoscaling.alpha.kubernetes.io/conditions")
        if raw is None:
            return _HPA_WAITING
        try:
            conditions = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"failed to convert conditions annotation to typed: {err}") from None
    else:
        conditions = _status(obj).get("conditions") or []
    # Any degraded condition wins; Argo CD stops at the first decisive condition, so an HPA that can
    # scale but cannot read its metrics (AbleToScale listed first) would show Healthy there.
    for c in conditions:
        if (c.get("type"), c.get("reason")) in _HPA_DEGRADED_REASONS:
            return HealthStatus(DEGRADED, c.get("message", ""))
    for c in conditions:
        if c.get("type") in ("AbleToScale", "ScalingLimited") and c.get("status") == "True":
            return HealthStatus(HEALTHY, c.get("message", ""))
    return _HPA_WAITING


def _crd(obj: Obj) -> HealthStatus:
    conditions = _status(obj).get("conditions") or []
    if not conditions:
        return HealthStatus(PROGRESSING, "Status conditions not found")
    by_type = {c.get("type"): c for c in conditions}

    def has(type_: str, status: str) -> dict[str, Any] | None:
        c = by_type.get(type_)
        return c if c is not None and c.get("status") == status else None

    if terminating := has("Terminating", "True"):
        return HealthStatus(PROGRESSING, f"CRD is being terminated: {terminating.get('message', '')}")
    if rejected := has("NamesAccepted", "False"):
        return HealthStatus(DEGRADED, f"CRD names have not been accepted: {rejected.get('message', '')}")
    if not has("Established", "True"):
        message = (by_type.get("Established") or {}).get("message", "")
        return HealthStatus(DEGRADED, f"CRD is not established: {message}")
    if violations := has("NonStructuralSchema", "True"):
        return HealthStatus(DEGRADED, f"Schema violations found: {violations.get('message', '')}")
    return HealthStatus(HEALTHY, "CRD is healthy")


def _namespace(obj: Obj) -> HealthStatus:
    phase = _status(obj).get("phase")
    if phase == "Active":
        return HealthStatus(HEALTHY)
    return HealthStatus(PROGRESSING, f"Namespace is {phase or 'not active yet'}")


def _workflow(obj: Obj) -> HealthStatus:
    st = _status(obj)
    phase, message = st.get("phase", ""), st.get("message", "")
    if phase in ("", "Pending", "Running"):
        return HealthStatus(PROGRESSING, message)
    if phase == "Succeeded":
        return HealthStatus(HEALTHY, message)
    if phase in ("Failed", "Error"):
        return HealthStatus(DEGRADED, message)
    return HealthStatus(UNKNOWN, message)


def _application(obj: Obj) -> HealthStatus | None:
    """A child app this tool did not assess: what Argo CD recorded, if anything."""
    health = _status(obj).get("health") or {}
    status = health.get("status")
    if not status:
        return None
    if status not in ORDER:
        return HealthStatus(UNKNOWN, f"unknown health status {status!r} in status.health")
    return HealthStatus(status, health.get("message", ""))


_BUILTIN: dict[tuple[str, str], Callable[[Obj], HealthStatus | None]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("apiregistration.k8s.io", "APIService"): _apiservice,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    (ARGO_GROUP, "Workflow"): _workflow,
    (ARGO_GROUP, "Application"): _application,
}


# --- the health stage: every object and app of a compare --------------------------------------------


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
