"""Built-in health of workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod (gitops-engine
pkg/health health_<kind>.go)."""

from __future__ import annotations

from typing import Any

from kubectl_gitops.health.fields import (
    condition,
    generation_of,
    name_of,
    optional_int,
    quote,
    spec_of,
    status_of,
    to_int,
)
from kubectl_gitops.model import Obj, annotations_of
from kubectl_gitops.state import HealthCode, HealthStatus

HEALTHY, SUSPENDED, PROGRESSING = HealthCode.HEALTHY, HealthCode.SUSPENDED, HealthCode.PROGRESSING
DEGRADED, UNKNOWN = HealthCode.DEGRADED, HealthCode.UNKNOWN

# A Running pod with this annotation (any value) is judged as restartPolicy Always would be, for pods an
# operator runs with Never/OnFailure that are not hooks.
ANN_IGNORE_RESTART_POLICY = "argocd.argoproj.io/ignore-restart-policy"


def deployment(obj: Obj) -> HealthStatus:
    spec, st = spec_of(obj), status_of(obj)
    if spec.get("paused") is True:
        return HealthStatus(SUSPENDED, "Deployment is paused")
    if generation_of(obj) > to_int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed deployment generation less "
                                         "than desired generation")
    progressing = condition(st, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthStatus(DEGRADED, f"Deployment {quote(name_of(obj))} exceeded its progress deadline")
    desired = optional_int(spec.get("replicas"))
    updated, current = to_int(st.get("updatedReplicas")), to_int(st.get("replicas"))
    available = to_int(st.get("availableReplicas"))
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


def statefulset(obj: Obj) -> HealthStatus:
    spec, st = spec_of(obj), status_of(obj)
    observed = to_int(st.get("observedGeneration"))
    if observed == 0 or generation_of(obj) > observed:
        return HealthStatus(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    desired = optional_int(spec.get("replicas"))
    ready, updated = to_int(st.get("readyReplicas")), to_int(st.get("updatedReplicas"))
    if desired is not None and ready < desired:
        return HealthStatus(PROGRESSING, f"Waiting for {desired - ready} pods to be ready...")
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "RollingUpdate" and rolling is not None:
        partition = optional_int(rolling.get("partition"))
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
    return HealthStatus(HEALTHY, f"statefulset rolling update complete {to_int(st.get('currentReplicas'))} pods "
                                 f"at revision {current_rev}...")


def daemonset(obj: Obj) -> HealthStatus:
    spec, st = spec_of(obj), status_of(obj)
    if generation_of(obj) > to_int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed daemon set generation less "
                                         "than desired generation")
    desired, updated = to_int(st.get("desiredNumberScheduled")), to_int(st.get("updatedNumberScheduled"))
    available = to_int(st.get("numberAvailable"))
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return HealthStatus(HEALTHY, f"daemon set {updated} out of {desired} new pods have been updated")
    if updated < desired:
        return HealthStatus(PROGRESSING, f"Waiting for daemon set {quote(name_of(obj))} rollout to finish: {updated} "
                                         f"out of {desired} new pods have been updated...")
    if available < desired:
        return HealthStatus(PROGRESSING, f"Waiting for daemon set {quote(name_of(obj))} rollout to finish: "
                                         f"{available} of {desired} updated pods are available...")
    return HealthStatus(HEALTHY)


def replicaset(obj: Obj) -> HealthStatus:
    st = status_of(obj)
    if generation_of(obj) > to_int(st.get("observedGeneration")):
        return HealthStatus(PROGRESSING, "Waiting for rollout to finish: observed replica set generation less "
                                         "than desired generation")
    failure = condition(st, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return HealthStatus(DEGRADED, failure.get("message", ""))
    desired, available = optional_int(spec_of(obj).get("replicas")), to_int(st.get("availableReplicas"))
    if desired is not None and available < desired:
        return HealthStatus(PROGRESSING, f"Waiting for rollout to finish: {available} out of {desired} new "
                                         "replicas are available...")
    return HealthStatus(HEALTHY)


def job(obj: Obj) -> HealthStatus:
    # Argo CD also counts a Suspended condition with status False (a resumed Job) as finished and so
    # Healthy; we only count true conditions, so a resumed Job is Progressing until it completes.
    conditions = {c.get("type"): c for c in status_of(obj).get("conditions") or [] if c.get("status") == "True"}
    if "Failed" in conditions:
        return HealthStatus(DEGRADED, conditions["Failed"].get("message", ""))
    if "Suspended" in conditions:
        return HealthStatus(SUSPENDED, conditions["Suspended"].get("message", ""))
    if "Complete" in conditions:
        return HealthStatus(HEALTHY, conditions["Complete"].get("message", ""))
    return HealthStatus(PROGRESSING)


def pod(obj: Obj) -> HealthStatus:
    spec, st = spec_of(obj), status_of(obj)
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
    if phase == "Running" and (policy == "Always" or ANN_IGNORE_RESTART_POLICY in annotations_of(obj)):
        if (condition(st, "Ready") or {}).get("status") == "True":
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
        if to_int(terminated.get("exitCode")) != 0:
            return f"container {quote(ctr.get('name', ''))} failed with exit code {to_int(terminated['exitCode'])}"
    return ""
