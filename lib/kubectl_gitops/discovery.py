"""What the API server serves, read from its discovery documents; pure (cluster.py fetches them).

Three formats, newest first: aggregated discovery `apidiscovery.k8s.io/v2` (Kubernetes 1.30+) and its
beta `v2beta1` (1.27-1.29; one document for /api and one for /apis), else the legacy documents (an
APIVersions/APIGroupList naming the group-versions, then one APIResourceList per group-version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

Doc = dict[str, Any]
# The server picks the first format it serves; legacy JSON answers a server that serves neither.
ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
          "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json;q=0.9")
AGGREGATED_VERSIONS = ("apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v2beta1")
Found = dict[tuple[str, str], "ApiResource"]  # (group, kind) -> the preferred version's resource


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name)}" if name else base


def is_aggregated(doc: Doc) -> bool:
    return doc.get("kind") == "APIGroupDiscoveryList" and doc.get("apiVersion") in AGGREGATED_VERSIONS


def add_aggregated(doc: Doc, found: Found) -> None:
    for group in doc.get("items") or []:
        gname = (group.get("metadata") or {}).get("name", "")
        for version in group.get("versions") or []:  # the preferred version is listed first
            for r in version.get("resources") or []:
                kind = (r.get("responseKind") or {}).get("kind")
                if kind:
                    found.setdefault((gname, kind), ApiResource(
                        group=gname, version=version["version"], kind=kind, plural=r["resource"],
                        namespaced=r.get("scope") == "Namespaced", verbs=frozenset(r.get("verbs") or [])))


def legacy_group_versions(doc: Doc) -> list[str]:
    """The group-versions an /api (APIVersions) or /apis (APIGroupList) document names, each group's
    preferred version first, so that `add_legacy` in this order keeps the preferred one."""
    if doc.get("kind") == "APIVersions":
        return list(doc.get("versions") or [])
    out = []
    for group in doc.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        versions = [v["groupVersion"] for v in group.get("versions") or [] if v.get("groupVersion")]
        out += sorted(versions, key=lambda gv: gv != preferred)
    return out


def add_legacy(group_version: str, doc: Doc, found: Found) -> None:
    group, _, version = group_version.rpartition("/")
    for r in doc.get("resources") or []:
        if "/" in r.get("name", "") or not r.get("kind"):  # a subresource (pods/log, deployments/scale)
            continue
        found.setdefault((group, r["kind"]), ApiResource(
            group=group, version=version, kind=r["kind"], plural=r["name"], namespaced=bool(r.get("namespaced")),
            verbs=frozenset(r.get("verbs") or [])))


def legacy_path(group_version: str) -> str:
    return f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
