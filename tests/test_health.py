"""Built-in health checks on real object shapes, app health, and the argocd-cm health configuration."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import pytest
import yaml

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import (
    DEGRADED,
    HEALTHY,
    MISSING,
    ORDER,
    PROGRESSING,
    SUSPENDED,
    UNKNOWN,
    HealthChecker,
    HealthConfig,
    HealthStatus,
    app_health,
    worst,
)
from kubectl_gitops.settings import config_from_data, from_yaml

FIXTURES = Path(__file__).parent / "fixtures" / "health"


@cache
def _docs(file: str) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((FIXTURES / file).read_text()) if d]
    return {d["metadata"]["name"]: d for d in docs}


def fixture(file: str, name: str) -> dict:
    return copy.deepcopy(_docs(file)[name])


PROGRESS_DEADLINE = 'Deployment "stuck" exceeded its progress deadline'
HPA_NO_METRICS = ("the HPA was unable to compute the replica count: failed to get cpu utilization: unable to "
                  "get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server "
                  "could not find the requested resource (get pods.metrics.k8s.io)")

# (fixture file, object name, expected status, expected message): one row per rule and branch.
BUILTIN_CASES = [
    ("deployment.yaml", "web", HEALTHY, ""),
    ("deployment.yaml", "stuck", DEGRADED, PROGRESS_DEADLINE),
    ("deployment.yaml", "paused", SUSPENDED, "Deployment is paused"),
    ("deployment.yaml", "generation-behind", PROGRESSING,
     "Waiting for rollout to finish: observed deployment generation less than desired generation"),
    ("deployment.yaml", "updating", PROGRESSING,
     "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."),
    ("deployment.yaml", "old-replicas", PROGRESSING,
     "Waiting for rollout to finish: 1 old replicas are pending termination..."),
    ("deployment.yaml", "unavailable", PROGRESSING,
     "Waiting for rollout to finish: 1 of 2 updated replicas are available..."),
    ("statefulset.yaml", "db", HEALTHY, "partitioned roll out complete: 2 new pods have been updated..."),
    ("statefulset.yaml", "unobserved", PROGRESSING, "Waiting for statefulset spec update to be observed..."),
    ("statefulset.yaml", "not-ready", PROGRESSING, "Waiting for 1 pods to be ready..."),
    ("statefulset.yaml", "partitioned", PROGRESSING,
     "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."),
    ("statefulset.yaml", "partitioned-done", HEALTHY,
     "partitioned roll out complete: 2 new pods have been updated..."),
    ("statefulset.yaml", "ondelete", HEALTHY, "statefulset has 2 ready pods"),
    ("statefulset.yaml", "rolling", HEALTHY,
     "statefulset rolling update complete 2 pods at revision db-599c5c786..."),
    ("statefulset.yaml", "rolling-revision", PROGRESSING,
     "waiting for statefulset rolling update to complete 1 pods at revision db-7d9c7b8f5..."),
    ("daemonset.yaml", "agent", HEALTHY, ""),
    ("daemonset.yaml", "generation-behind", PROGRESSING,
     "Waiting for rollout to finish: observed daemon set generation less than desired generation"),
    ("daemonset.yaml", "updating", PROGRESSING,
     'Waiting for daemon set "updating" rollout to finish: 1 out of 3 new pods have been updated...'),
    ("daemonset.yaml", "unavailable", PROGRESSING,
     'Waiting for daemon set "unavailable" rollout to finish: 2 of 3 updated pods are available...'),
    ("daemonset.yaml", "ondelete", HEALTHY, "daemon set 1 out of 3 new pods have been updated"),
    ("replicaset.yaml", "web-549479c465", HEALTHY, ""),
    ("replicaset.yaml", "failure", DEGRADED,
     'pods "web-549479c465-x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=10, '
     "limited: pods=10"),
    ("replicaset.yaml", "unavailable", PROGRESSING,
     "Waiting for rollout to finish: 1 out of 2 new replicas are available..."),
    ("replicaset.yaml", "generation-behind", PROGRESSING,
     "Waiting for rollout to finish: observed replica set generation less than desired generation"),
    ("job.yaml", "migrate", HEALTHY, "Reached expected number of succeeded pods"),
    ("job.yaml", "running", PROGRESSING, ""),
    ("job.yaml", "failed", DEGRADED, "Job has reached the specified backoff limit"),
    ("job.yaml", "suspended", SUSPENDED, "Job suspended"),
    ("job.yaml", "resumed", PROGRESSING, ""),
    ("pod.yaml", "running", HEALTHY, ""),
    ("pod.yaml", "pending", PROGRESSING, ""),
    ("pod.yaml", "succeeded", HEALTHY, ""),
    ("pod.yaml", "crashloop", DEGRADED,
     "back-off 2m40s restarting failed container=web pod=crashloop_shop(1a9c)"),
    ("pod.yaml", "imagepullbackoff", DEGRADED, 'Back-off pulling image "registry.example/web:1.0.0"'),
    ("pod.yaml", "not-ready", PROGRESSING, ""),
    ("pod.yaml", "restarted-not-ready", DEGRADED, ""),
    ("pod.yaml", "never-running", PROGRESSING, ""),
    ("pod.yaml", "never-imagepullbackoff", PROGRESSING, ""),
    ("pod.yaml", "evicted", DEGRADED,
     "The node was low on resource: memory. Threshold quantity: 100Mi, available: 98Mi."),
    ("pod.yaml", "failed-exit", DEGRADED, 'container "web" failed with exit code 2'),
    ("pod.yaml", "failed-termination-message", DEGRADED,
     'migration 0042 failed: relation "orders" does not exist'),
    ("pod.yaml", "failed-oom", DEGRADED, "OOMKilled"),
    ("pod.yaml", "failed-init", DEGRADED, 'container "init-schema" failed with exit code 3'),
    ("pod.yaml", "deleting", PROGRESSING, "Pending deletion"),
    ("pod.yaml", "unknown", UNKNOWN, "node kwok-node-0 is unreachable"),
    ("pvc.yaml", "data", HEALTHY, "Waiting for consumer"),
    ("pvc.yaml", "provisioning", PROGRESSING, "Provisioning volume"),
    ("pvc.yaml", "bound", HEALTHY, ""),
    ("pvc.yaml", "lost", DEGRADED, ""),
    ("service.yaml", "web", HEALTHY, ""),
    ("service.yaml", "lb", PROGRESSING, ""),
    ("service.yaml", "lb-ready", HEALTHY, ""),
    ("service.yaml", "web-ingress", PROGRESSING, ""),
    ("service.yaml", "web-ingress-ready", HEALTHY, ""),
    ("apiservice.yaml", "v1.apps", HEALTHY, "Local: Local APIServices are always available"),
    ("apiservice.yaml", "v1beta1.metrics.k8s.io", PROGRESSING,
     'ServiceNotFound: service/metrics-server in "kube-system" is not present'),
    ("apiservice.yaml", "v1.new.example.com", PROGRESSING, "Waiting to be processed"),
    ("hpa.yaml", "web", DEGRADED, HPA_NO_METRICS),
    ("hpa.yaml", "healthy", HEALTHY, "recommended size matches current size"),
    ("hpa.yaml", "new", PROGRESSING, "Waiting to Autoscale"),
    ("hpa.yaml", "backoff", PROGRESSING, "Waiting to Autoscale"),
    ("hpa.yaml", "v1-degraded", DEGRADED, HPA_NO_METRICS),
    ("hpa.yaml", "v1-healthy", HEALTHY, "recommended size matches current size"),
    ("hpa.yaml", "v1-no-conditions", PROGRESSING, "Waiting to Autoscale"),
    ("hpa.yaml", "v1-broken-annotation", UNKNOWN,
     "cannot assess HorizontalPodAutoscaler health: failed to convert conditions annotation to typed: "
     "Expecting property name enclosed in double quotes: line 1 column 24 (char 23)"),
    ("crd.yaml", "certificates.certs.example.com", HEALTHY, "CRD is healthy"),
    ("crd.yaml", "new.certs.example.com", PROGRESSING, "Status conditions not found"),
    ("crd.yaml", "conflict.certs.example.com", DEGRADED,
     'CRD names have not been accepted: "certificates" is already in use'),
    ("crd.yaml", "installing.certs.example.com", PROGRESSING, "CRD is being installed"),
    ("crd.yaml", "deleting.certs.example.com", PROGRESSING, "Pending deletion"),
    ("crd.yaml", "terminating.certs.example.com", PROGRESSING,
     "CRD is terminating: CustomResourceDefinition marked for deletion; CustomResource deletion will "
     "begin soon"),
    ("crd.yaml", "nonstructural.certs.example.com", DEGRADED,
     "Schema violations found: spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be "
     "empty at the root"),
    ("namespace.yaml", "shop", HEALTHY, ""),
    ("namespace.yaml", "old-shop", PROGRESSING, "Pending deletion"),
    ("other.yaml", "payments", DEGRADED, 'Deployment "payments-api" exceeded its progress deadline'),
    ("other.yaml", "nightly-report", DEGRADED, "child 'nightly-report-1234' failed"),
    ("other.yaml", "settings-old", PROGRESSING, "Pending deletion"),
    # Argo CD's current checks (parity.yaml)
    ("parity.yaml", "sessions", DEGRADED, "the HPA was unable to compute the replica count: unable to get metric "
     "sessions_active: Service on shop web/unable to fetch metrics from custom metrics API: the server could not "
     "find the metric sessions_active for services"),
    ("parity.yaml", "queue-per-pod", DEGRADED, "the HPA was unable to compute the replica count: unable to get "
     "metric queue_depth: unable to fetch metrics from custom metrics API: no custom metrics API "
     "(custom.metrics.k8s.io) registered"),
    ("parity.yaml", "queue-external", DEGRADED, "the HPA was unable to compute the replica count: unable to get "
     "external metric shop/orders_pending/nil: no external metrics API (external.metrics.k8s.io) registered"),
    ("parity.yaml", "invalid-metrics", DEGRADED, "the HPA was unable to compute the replica count: invalid metrics "
     "(1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu "
     "utilization: missing request for cpu in container web of Pod web-549479c465-x"),
    ("parity.yaml", "unestablished.certs.example.com", DEGRADED, "CRD is not established"),
    # a Running Never/OnFailure pod with the annotation (any value) is judged like an Always pod
    ("parity.yaml", "operator-worker", HEALTHY, ""),
    ("parity.yaml", "operator-worker-restarted", DEGRADED, ""),
    ("parity.yaml", "operator-worker-starting", PROGRESSING, ""),
    # a hook Argo CD still holds with its finalizer is assessed while being deleted; others are pending deletion
    ("parity.yaml", "presync-migrate", HEALTHY, ""),
    ("parity.yaml", "presync-other-finalizer", PROGRESSING, "Pending deletion"),
]
NO_HEALTH_CASES = [
    ("other.yaml", "settings"),  # a ConfigMap: no check, never blocks a wave
    ("other.yaml", "catalog"),  # an Application nobody has assessed yet
]


@pytest.mark.parametrize(("file", "name", "status", "message"), BUILTIN_CASES,
                         ids=[f"{f.removesuffix('.yaml')}-{n}" for f, n, _, _ in BUILTIN_CASES])
def test_builtin_rule(file: str, name: str, status: str, message: str) -> None:
    assert HealthChecker().check(fixture(file, name)) == HealthStatus(status, message)


@pytest.mark.parametrize(("file", "name"), NO_HEALTH_CASES)
def test_no_health(file: str, name: str) -> None:
    assert HealthChecker().check(fixture(file, name)) is None


def test_every_fixture_has_a_case() -> None:
    covered = {(f, n) for f, n, _, _ in BUILTIN_CASES} | set(NO_HEALTH_CASES)
    on_disk = {(p.name, name) for p in FIXTURES.glob("*.yaml") for name in _docs(p.name)}
    assert on_disk == covered


def test_malformed_object_is_unknown_not_a_crash() -> None:
    dep = fixture("deployment.yaml", "web")
    dep["spec"]["replicas"] = "two"
    assert HealthChecker().check(dep) == HealthStatus(
        UNKNOWN, "cannot assess Deployment health: expected an integer, got 'two'")


def test_pod_without_restart_policy_is_treated_as_always() -> None:
    pod = fixture("pod.yaml", "running")
    del pod["spec"]["restartPolicy"]
    assert HealthChecker().check(pod) == HealthStatus(HEALTHY, "")


def test_numbers_read_from_json_as_floats_still_work() -> None:
    dep = fixture("deployment.yaml", "updating")
    dep["spec"]["replicas"] = 3.0
    assert HealthChecker().check(dep) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...")


# --- child Applications (App of Apps) ---------------------------------------------------------------


def test_child_app_health_comes_from_the_caller() -> None:
    child = HealthStatus(PROGRESSING, "2 resources progressing")
    checker = HealthChecker(child_apps={"payments": child, "catalog": HealthStatus(HEALTHY)})
    assert checker.check(fixture("other.yaml", "payments")) == child
    assert checker.check(fixture("other.yaml", "catalog")) == HealthStatus(HEALTHY)


def test_child_app_falls_back_to_its_recorded_status() -> None:
    checker = HealthChecker(child_apps={"someone-else": HealthStatus(HEALTHY)})
    assert checker.check(fixture("other.yaml", "payments")).status == DEGRADED


def test_child_app_health_beats_a_lua_script_for_applications() -> None:
    # argocd-cm often carries the old Application script that reads status.health, which nothing fills
    # in without an Argo CD controller; what this tool computed is the better answer.
    config = HealthConfig(scripts={"argoproj.io/Application": 'return {status = "Progressing"}'})
    checker = HealthChecker(config, child_apps={"catalog": HealthStatus(HEALTHY)})
    assert checker.check(fixture("other.yaml", "catalog")) == HealthStatus(HEALTHY)
    assert checker.check(fixture("other.yaml", "payments")) == HealthStatus(PROGRESSING)


def test_child_app_with_a_bogus_recorded_status_is_unknown() -> None:
    app = fixture("other.yaml", "payments")
    app["status"]["health"]["status"] = "Fine"
    assert HealthChecker().check(app) == HealthStatus(UNKNOWN, "unknown health status 'Fine' in status.health")


# --- statuses and app health ------------------------------------------------------------------------


def test_worst_follows_argo_order() -> None:
    assert ORDER == (HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN)
    assert worst([HEALTHY, SUSPENDED]) == SUSPENDED
    assert worst([MISSING, PROGRESSING, HEALTHY]) == MISSING
    assert worst([DEGRADED, MISSING]) == DEGRADED
    assert worst([DEGRADED, UNKNOWN, HEALTHY]) == UNKNOWN
    assert worst([]) == HEALTHY
    assert worst(["", HEALTHY]) == HEALTHY
    assert worst(["", SUSPENDED]) == SUSPENDED


def test_app_health_is_the_worst_resource() -> None:
    web, stuck = fixture("deployment.yaml", "web"), fixture("deployment.yaml", "stuck")
    checker = HealthChecker()
    assert app_health([(web, checker.check(web))]) == HEALTHY
    assert app_health([(web, checker.check(web)), (stuck, checker.check(stuck))]) == DEGRADED


def test_app_health_counts_missing_objects_and_skips_kinds_without_health() -> None:
    settings = fixture("other.yaml", "settings")
    assert app_health([(settings, None)]) == HEALTHY
    assert app_health([(settings, None), (None, None)]) == MISSING


def test_ignore_healthcheck_annotation_excludes_an_object() -> None:
    stuck = fixture("deployment.yaml", "stuck")
    stuck["metadata"].setdefault("annotations", {})["argocd.argoproj.io/ignore-healthcheck"] = "true"
    health = HealthChecker().check(stuck)
    assert health == HealthStatus(DEGRADED, PROGRESS_DEADLINE)  # still shown...
    assert app_health([(stuck, health)]) == HEALTHY  # ...but not counted
    stuck["metadata"]["annotations"]["argocd.argoproj.io/ignore-healthcheck"] = "false"
    assert app_health([(stuck, health)]) == DEGRADED


# --- configuration --------------------------------------------------------------------------------

SCRIPT = 'return {status = "Healthy", message = "custom"}'


def test_split_keys() -> None:
    config = config_from_data({
        "resource.customizations.health.cert-manager.io_Certificate": SCRIPT,
        "resource.customizations.useOpenLibs.cert-manager.io_Certificate": "true",
        "resource.customizations.health.Service": SCRIPT,
        "resource.customizations.useOpenLibs.Service": "false",
        "resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers: [/spec/replicas]",
        "url": "https://argocd.example.com",
    })
    assert config == HealthConfig(scripts={"cert-manager.io/Certificate": SCRIPT, "Service": SCRIPT},
                                  open_libs=frozenset({"cert-manager.io/Certificate"}))


def test_combined_key_with_split_keys_applied_on_top() -> None:
    combined = yaml.safe_dump({
        "certs.example.com/Certificate": {"health.lua": "return nil", "health.lua.useOpenLibs": True},
        "*.example.com/*": {"health.lua": SCRIPT},
        "apps/Deployment": {"ignoreDifferences": "jsonPointers: [/spec/replicas]"},
    })
    config = config_from_data({
        "resource.customizations": combined,
        "resource.customizations.health.certs.example.com_Certificate": SCRIPT,
    })
    assert config.scripts == {"certs.example.com/Certificate": SCRIPT, "*.example.com/*": SCRIPT}
    assert config.open_libs == {"certs.example.com/Certificate"}  # the flag survives the split key


def test_all_means_every_kind() -> None:
    config = config_from_data({"resource.customizations.health.all": SCRIPT})
    assert config.scripts == {"*/*": SCRIPT}


@pytest.mark.parametrize(("data", "error"), [
    ({"resource.customizations.health.a_b_c": SCRIPT},
     "argocd-cm: resource.customizations.health.a_b_c: expected resource.customizations.<type>.<group_kind>"),
    ({"resource.customizations.useOpenLibs.Service": "yes"},
     "argocd-cm: resource.customizations.useOpenLibs.Service: expected true or false, got 'yes'"),
    ({"resource.customizations": "[unclosed"}, "argocd-cm: resource.customizations: not valid YAML"),
    ({"resource.customizations": "- a list"}, "expected a mapping of group/Kind to customizations"),
    ({"resource.customizations": "apps/Deployment: {health.lua.useOpenLibs: sometimes}"},
     "apps/Deployment: health.lua.useOpenLibs must be true or false"),
])
def test_bad_config_names_the_key(data: dict[str, str], error: str) -> None:
    with pytest.raises(GitopsError) as info:
        config_from_data(data)
    assert error in str(info.value)


def test_config_from_a_local_configmap_file() -> None:
    text = yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"resource.customizations.health.certs.example.com_Certificate": SCRIPT,
                 "resource.customizations.useOpenLibs.certs.example.com_Certificate": "true"},
    })
    config = from_yaml(text, source="argocd-cm.yaml").health
    assert config.scripts == {"certs.example.com/Certificate": SCRIPT}
    assert config.open_libs == {"certs.example.com/Certificate"}


@pytest.mark.parametrize(("text", "error"), [
    ("kind: Deployment\n", "argocd-cm.yaml: expected a ConfigMap (the shape of argocd-cm)"),
    ("kind: ConfigMap\ndata: {resource.customizations.useOpenLibs.Service: true}\n",
     "argocd-cm.yaml: ConfigMap data values must be strings: resource.customizations.useOpenLibs.Service\n"
     'hint: quote them, e.g. "true"'),
    ("kind: [", "argocd-cm.yaml: not valid YAML"),
])
def test_bad_config_file(text: str, error: str) -> None:
    with pytest.raises(GitopsError) as info:
        from_yaml(text, source="argocd-cm.yaml")
    assert str(info.value).startswith(error)


# --- lookup: exact key, then globs, then built-in ---------------------------------------------------


def _checker(scripts: dict[str, str]) -> HealthChecker:
    return HealthChecker(HealthConfig(scripts=scripts))


def _status_is(message: str) -> str:
    return f'return {{status = "Healthy", message = "{message}"}}'


def test_custom_script_overrides_builtin() -> None:
    checker = _checker({"apps/Deployment": 'return {status = "Suspended", message = "frozen by policy"}'})
    assert checker.check(fixture("deployment.yaml", "web")) == HealthStatus(SUSPENDED, "frozen by policy")
    # other kinds keep their built-in checks
    assert checker.check(fixture("statefulset.yaml", "not-ready")).status == PROGRESSING


def test_core_kinds_are_keyed_by_kind_alone() -> None:
    checker = _checker({"Service": _status_is("core")})
    assert checker.check(fixture("service.yaml", "lb")) == HealthStatus(HEALTHY, "core")


def test_exact_key_beats_globs_and_specific_globs_beat_broad_ones() -> None:
    cert = {"apiVersion": "certs.example.com/v1", "kind": "Certificate", "metadata": {"name": "c"}}
    issuer = {"apiVersion": "certs.example.com/v1", "kind": "Issuer", "metadata": {"name": "i"}}
    other = {"apiVersion": "db.example.org/v1", "kind": "Cluster", "metadata": {"name": "o"}}
    checker = _checker({
        "certs.example.com/Certificate": _status_is("exact"),
        "*.example.com/*": _status_is("group glob"),
        "*/*": _status_is("everything"),
    })
    assert checker.check(cert).message == "exact"
    assert checker.check(issuer).message == "group glob"
    assert checker.check(other).message == "everything"


@pytest.mark.parametrize(("pattern", "matches", "misses"), [
    ("*.example.com/*", "certs.example.com/Issuer", "certs.example.org/Issuer"),
    ("certs.example.com/{Certificate,Issuer}", "certs.example.com/Issuer", "certs.example.com/Order"),
    ("certs.example.com/[CI]*", "certs.example.com/Certificate", "certs.example.com/Order"),
    ("certs.example.com/[!CI]*", "certs.example.com/Order", "certs.example.com/Issuer"),
    ("certs.example.com/Issue?", "certs.example.com/Issuer", "certs.example.com/Issuers"),
    (r"certs.example.com/\*", "certs.example.com/*", "certs.example.com/Issuer"),
])
def test_glob_keys(pattern: str, matches: str, misses: str) -> None:
    checker = _checker({pattern: _status_is("matched")})

    def obj(group_kind: str) -> dict:
        group, kind = group_kind.split("/")
        return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": "x"}}

    assert checker.check(obj(matches)) == HealthStatus(HEALTHY, "matched")
    assert checker.check(obj(misses)) is None


def test_invalid_glob_key_is_reported() -> None:
    with pytest.raises(GitopsError, match=r"resource customization key '\*\.example\.com/\{A' is not a valid"):
        _checker({"*.example.com/{A": SCRIPT})


def test_deletion_comes_before_custom_scripts() -> None:
    checker = _checker({"Pod": "while true do end"})
    assert checker.check(fixture("pod.yaml", "deleting")) == HealthStatus(PROGRESSING, "Pending deletion")
