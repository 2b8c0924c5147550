"""Built-in health of Argo kinds: Workflow, and a child Application's recorded health (App of Apps)."""

from __future__ import annotations

from kubectl_gitops.health.fields import status_of
from kubectl_gitops.model import Obj
from kubectl_gitops.state import HEALTH_ORDER, HealthCode, HealthStatus

HEALTHY, PROGRESSING = HealthCode.HEALTHY, HealthCode.PROGRESSING
DEGRADED, UNKNOWN = HealthCode.DEGRADED, HealthCode.UNKNOWN


def workflow(obj: Obj) -> HealthStatus:
    st = status_of(obj)
    phase, message = st.get("phase", ""), st.get("message", "")
    if phase in ("", "Pending", "Running"):
        return HealthStatus(PROGRESSING, message)
    if phase == "Succeeded":
        return HealthStatus(HEALTHY, message)
    if phase in ("Failed", "Error"):
        return HealthStatus(DEGRADED, message)
    return HealthStatus(UNKNOWN, message)


def application(obj: Obj) -> HealthStatus | None:
    """A child app this tool did not assess: what Argo CD recorded, if anything."""
    health = status_of(obj).get("health") or {}
    status = health.get("status")
    if not status:
        return None
    if status not in HEALTH_ORDER:
        return HealthStatus(UNKNOWN, f"unknown health status {status!r} in status.health")
    return HealthStatus(status, health.get("message", ""))
