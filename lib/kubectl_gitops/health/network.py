"""Built-in health of core and networking kinds: PersistentVolumeClaim, Service, Ingress, Namespace."""

from __future__ import annotations

from kubectl_gitops.health.fields import spec_of, status_of
from kubectl_gitops.model import Obj, annotations_of
from kubectl_gitops.state import HealthCode, HealthStatus

HEALTHY, PROGRESSING = HealthCode.HEALTHY, HealthCode.PROGRESSING
DEGRADED, UNKNOWN = HealthCode.DEGRADED, HealthCode.UNKNOWN


_PROVISIONER_ANNOTATIONS = {"volume.beta.kubernetes.io/storage-provisioner",
                            "volume.kubernetes.io/storage-provisioner"}


def pvc(obj: Obj) -> HealthStatus:
    phase = status_of(obj).get("phase")
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
    return bool((status_of(obj).get("loadBalancer") or {}).get("ingress"))


def service(obj: Obj) -> HealthStatus:
    if spec_of(obj).get("type") == "LoadBalancer" and not _has_lb_ingress(obj):
        return HealthStatus(PROGRESSING)
    return HealthStatus(HEALTHY)


def ingress(obj: Obj) -> HealthStatus:
    return HealthStatus(HEALTHY if _has_lb_ingress(obj) else PROGRESSING)


def namespace(obj: Obj) -> HealthStatus:
    phase = status_of(obj).get("phase")
    if phase == "Active":
        return HealthStatus(HEALTHY)
    return HealthStatus(PROGRESSING, f"Namespace is {phase or 'not active yet'}")
