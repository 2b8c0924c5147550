"""Built-in health of API extensions: APIService, HorizontalPodAutoscaler, CustomResourceDefinition."""

from __future__ import annotations

import json

from kubectl_gitops.health.fields import condition, status_of
from kubectl_gitops.model import Obj, annotations_of
from kubectl_gitops.state import HealthCode, HealthStatus

HEALTHY, PROGRESSING, DEGRADED = HealthCode.HEALTHY, HealthCode.PROGRESSING, HealthCode.DEGRADED


def apiservice(obj: Obj) -> HealthStatus:
    available = condition(status_of(obj), "Available")
    if available is None:
        return HealthStatus(PROGRESSING, "Waiting to be processed")
    message = f"{available.get('reason', '')}: {available.get('message', '')}"
    return HealthStatus(HEALTHY if available.get("status") == "True" else PROGRESSING, message)


_HPA_WAITING = HealthStatus(PROGRESSING, "Waiting to Autoscale")
_HPA_DEGRADED_REASONS = {
    ("AbleToScale", "FailedGetScale"), ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"), ("ScalingActive", "InvalidSelector"),
    ("ScalingActive", "FailedGetObjectMetric"), ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"), ("ScalingActive", "FailedComputeMetricsReplicas"),
}


def hpa(obj: Obj) -> HealthStatus:
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
        conditions = status_of(obj).get("conditions") or []
    # Any degraded condition wins, also after a healthy one: an HPA that can scale (AbleToScale, listed
    # first) but cannot read its metrics is Degraded, as in Argo CD's own test data.
    for c in conditions:
        if (c.get("type"), c.get("reason")) in _HPA_DEGRADED_REASONS:
            return HealthStatus(DEGRADED, c.get("message", ""))
    for c in conditions:
        if c.get("type") in ("AbleToScale", "ScalingLimited") and c.get("status") == "True":
            return HealthStatus(HEALTHY, c.get("message", ""))
    return _HPA_WAITING


def crd(obj: Obj) -> HealthStatus:
    """Argo CD's bundled CustomResourceDefinition health.lua: the first decisive condition, in order."""
    conditions = status_of(obj).get("conditions") or []
    if not conditions:
        return HealthStatus(PROGRESSING, "Status conditions not found")
    established = False
    for c in conditions:
        type_, status, message = c.get("type"), c.get("status"), c.get("message", "")
        if type_ == "Terminating" and status == "True":
            return HealthStatus(PROGRESSING, f"CRD is terminating: {message}")
        if type_ == "NamesAccepted" and status == "False":
            return HealthStatus(DEGRADED, f"CRD names have not been accepted: {message}")
        if type_ == "NonStructuralSchema" and status == "True":
            return HealthStatus(DEGRADED, f"Schema violations found: {message}")
        if type_ == "Established":
            if status == "True":
                established = True
            elif c.get("reason") == "Installing":
                # the API server is still setting it up: a sync that creates a CRD waits for it
                return HealthStatus(PROGRESSING, "CRD is being installed")
    if not established:
        return HealthStatus(DEGRADED, "CRD is not established")
    return HealthStatus(HEALTHY, "CRD is healthy")
