"""Argo CD's bundled-check layout: a resource_customizations directory of our own scripts, run
table-driven from their health_test.yaml files as Argo CD runs its own; wildcard directories; the
precedence argocd-cm > directory > built-in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_gitops import customizations
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.health import HealthChecker, HealthConfig, HealthStatus
from kubectl_gitops.settings import Settings, config_from_data
from kubectl_gitops.state import HealthCode

DIR = Path(__file__).parent / "fixtures" / "resource_customizations"


def _cases() -> list[tuple[str, str, str, str]]:
    """(check dir, input file, expected status, expected message) from every health_test.yaml."""
    cases = []
    for test_file in sorted(DIR.rglob("health_test.yaml")):
        check_dir = test_file.parent
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            cases.append((str(check_dir.relative_to(DIR)), case["inputPath"], case["healthStatus"]["status"],
                          case["healthStatus"].get("message", "")))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def bundled() -> HealthChecker:
    return HealthChecker(HealthConfig(bundled=customizations.load(DIR)))


@pytest.mark.parametrize(("check", "input_path", "status", "message"), CASES,
                         ids=[f"{c}:{i}" for c, i, _, _ in CASES])
def test_bundled_check(bundled: HealthChecker, check: str, input_path: str, status: str, message: str) -> None:
    obj = yaml.safe_load((DIR / check / input_path).read_text())
    assert bundled.check(obj) == HealthStatus(HealthCode(status), message)


def test_every_check_has_test_cases() -> None:
    with_scripts = {str(p.parent.relative_to(DIR)) for p in DIR.rglob("health.lua")}
    assert with_scripts == {c for c, _, _, _ in CASES}
    assert len(CASES) >= 10


def test_layout_keys() -> None:
    scripts = customizations.load(DIR)
    assert set(scripts) == {"certs.example.com/Certificate", "*.db.example.org/*", "gateway.example.net/Route",
                            "apps/Deployment"}


def test_core_kind_directory_and_deeper_files(tmp_path: Path) -> None:
    (tmp_path / "ConfigMap").mkdir()
    (tmp_path / "ConfigMap" / "health.lua").write_text('return {status = "Healthy", message = "core"}')
    # action scripts and anything deeper than <group>/<Kind>/ are not health checks
    (tmp_path / "apps" / "Deployment" / "actions" / "restart").mkdir(parents=True)
    (tmp_path / "apps" / "Deployment" / "actions" / "restart" / "health.lua").write_text("error('not me')")
    scripts = customizations.load(tmp_path)
    assert set(scripts) == {"ConfigMap"}
    checker = HealthChecker(HealthConfig(bundled=scripts))
    assert checker.check({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}) == HealthStatus(
        HealthCode.HEALTHY, "core")


def test_wildcard_directory_matches_only_its_groups(bundled: HealthChecker) -> None:
    other = {"apiVersion": "postgres.db.example.com/v1", "kind": "Cluster", "metadata": {"name": "x"},
             "status": {"phase": "Running"}}
    assert bundled.check(other) is None  # example.com, not example.org: no check at all


def test_exact_directory_beats_a_wildcard_one(tmp_path: Path) -> None:
    for rel, message in (("_.example.com/_", "wildcard"), ("certs.example.com/_", "kind wildcard"),
                         ("certs.example.com/Certificate", "exact")):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "health.lua").write_text(f'return {{status = "Healthy", message = "{message}"}}')
    checker = HealthChecker(HealthConfig(bundled=customizations.load(tmp_path)))

    def message(api_version: str, kind: str) -> str:
        health = checker.check({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
        assert health is not None
        return health.message

    assert message("certs.example.com/v1", "Certificate") == "exact"
    assert message("certs.example.com/v1", "Issuer") == "kind wildcard"  # the longer, more specific key
    assert message("dns.example.com/v1", "Zone") == "wildcard"


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 1},
              "spec": {"replicas": 2},
              "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}


def test_precedence_argocd_cm_then_directory_then_builtin() -> None:
    bundled = customizations.load(DIR)
    argocd_cm = config_from_data({"resource.customizations.health.apps_Deployment":
                                  'return {status = "Degraded", message = "from argocd-cm"}'})
    assert HealthChecker().check(DEPLOYMENT) == HealthStatus(HealthCode.HEALTHY, "")  # built-in
    assert HealthChecker(HealthConfig(bundled=bundled)).check(DEPLOYMENT) == HealthStatus(
        HealthCode.HEALTHY, "from the directory")
    both = HealthConfig(scripts=argocd_cm.scripts, bundled=bundled)
    assert HealthChecker(both).check(DEPLOYMENT) == HealthStatus(HealthCode.DEGRADED, "from argocd-cm")


def test_an_argocd_cm_glob_beats_an_exact_directory_script() -> None:
    # argocd-cm as a whole comes first, as in Argo CD, whose bundled scripts are the last resort
    argocd_cm = config_from_data({"resource.customizations": yaml.safe_dump(
        {"*.example.com/*": {"health.lua": 'return {status = "Suspended", message = "policy"}'}})})
    checker = HealthChecker(HealthConfig(scripts=argocd_cm.scripts, bundled=customizations.load(DIR)))
    cert = yaml.safe_load((DIR / "certs.example.com/Certificate/testdata/ready.yaml").read_text())
    assert checker.check(cert) == HealthStatus(HealthCode.SUSPENDED, "policy")


def test_directory_scripts_get_the_standard_libraries_argocd_cm_ones_do_not() -> None:
    script = 'return {status = "Healthy", message = type(string)}'
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    from_cm = HealthChecker(HealthConfig(scripts={"example.com/Widget": script}))
    from_dir = HealthChecker(HealthConfig(bundled={"example.com/Widget": script}))
    assert from_cm.check(obj) == HealthStatus(HealthCode.HEALTHY, "nil")
    assert from_dir.check(obj) == HealthStatus(HealthCode.HEALTHY, "table")


def test_with_bundled_uses_the_chosen_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert customizations.with_bundled(Settings(), None).health.bundled == {}  # nothing fetched
    assert set(customizations.with_bundled(Settings(), str(DIR)).health.bundled) == set(customizations.load(DIR))


def test_missing_directory_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(GitopsError) as info:
        customizations.load(tmp_path / "nope")
    assert str(info.value).startswith(f"{tmp_path / 'nope'}: no such resource customizations directory\nhint: ")


def test_unreadable_script_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "example.com" / "Widget").mkdir(parents=True)
    (tmp_path / "example.com" / "Widget" / "health.lua").write_bytes(b"\xff\xfe return")
    with pytest.raises(GitopsError, match=r"example.com/Widget/health.lua: cannot read the health check"):
        customizations.load(tmp_path)
