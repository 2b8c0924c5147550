"""The built-in checks, dispatched by (group, kind): one small function per kind, by kind family."""

from __future__ import annotations

from collections.abc import Callable

from kubectl_gitops.health import api, argo, network, workloads
from kubectl_gitops.model import ARGO_GROUP, Obj
from kubectl_gitops.state import HealthStatus

BUILTIN: dict[tuple[str, str], Callable[[Obj], HealthStatus | None]] = {
    ("apps", "Deployment"): workloads.deployment,
    ("apps", "StatefulSet"): workloads.statefulset,
    ("apps", "DaemonSet"): workloads.daemonset,
    ("apps", "ReplicaSet"): workloads.replicaset,
    ("batch", "Job"): workloads.job,
    ("", "Pod"): workloads.pod,
    ("", "PersistentVolumeClaim"): network.pvc,
    ("", "Service"): network.service,
    ("", "Namespace"): network.namespace,
    ("networking.k8s.io", "Ingress"): network.ingress,
    ("extensions", "Ingress"): network.ingress,
    ("apiregistration.k8s.io", "APIService"): api.apiservice,
    ("autoscaling", "HorizontalPodAutoscaler"): api.hpa,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): api.crd,
    (ARGO_GROUP, "Workflow"): argo.workflow,
    (ARGO_GROUP, "Application"): argo.application,
}
