"""Reading discovery documents (pure): aggregated v2/v2beta1 and legacy, preferred versions first,
subresources skipped."""

from __future__ import annotations

from kubectl_gitops.discovery import add_aggregated, add_legacy, is_aggregated, legacy_group_versions, legacy_path


def test_aggregated_v2beta1_is_read_like_v2() -> None:
    doc = {"apiVersion": "apidiscovery.k8s.io/v2beta1", "kind": "APIGroupDiscoveryList", "items": [
        {"metadata": {"name": "apps"}, "versions": [
            {"version": "v1", "resources": [{"resource": "deployments", "responseKind": {"kind": "Deployment"},
                                             "scope": "Namespaced", "verbs": ["list", "patch"]}]}]}]}
    assert is_aggregated(doc)
    found: dict = {}
    add_aggregated(doc, found)
    res = found[("apps", "Deployment")]
    assert (res.api_version, res.plural, res.namespaced, res.path("ns", "web")) == (
        "apps/v1", "deployments", True, "/apis/apps/v1/namespaces/ns/deployments/web")


def test_legacy_documents_preferred_version_first_and_subresources_skipped() -> None:
    groups = {"kind": "APIGroupList", "groups": [
        {"name": "autoscaling", "preferredVersion": {"groupVersion": "autoscaling/v2"},
         "versions": [{"groupVersion": "autoscaling/v1"}, {"groupVersion": "autoscaling/v2"}]}]}
    assert not is_aggregated(groups)
    assert legacy_group_versions(groups) == ["autoscaling/v2", "autoscaling/v1"]
    assert legacy_group_versions({"kind": "APIVersions", "versions": ["v1"]}) == ["v1"]
    assert (legacy_path("v1"), legacy_path("autoscaling/v2")) == ("/api/v1", "/apis/autoscaling/v2")
    found: dict = {}
    hpa = {"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": True,
           "verbs": ["list"]}
    add_legacy("autoscaling/v2", {"resources": [hpa, {"name": "horizontalpodautoscalers/status",
                                                      "kind": "HorizontalPodAutoscaler"}]}, found)
    add_legacy("autoscaling/v1", {"resources": [hpa]}, found)
    add_legacy("v1", {"resources": [{"name": "namespaces", "kind": "Namespace", "namespaced": False}]}, found)
    assert found[("autoscaling", "HorizontalPodAutoscaler")].version == "v2"
    assert found[("", "Namespace")].path(name="x") == "/api/v1/namespaces/x"
    assert len(found) == 2
