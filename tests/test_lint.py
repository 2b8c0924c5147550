"""kubectl gitops lint: every rule fires on a fixture that breaks it and stays quiet on one that follows
it; SARIF validates against the SARIF 2.1.0 schema; the pre-commit hook runs through real pre-commit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT, VENV_BIN, run_cli
from gitrepo import git, make_repo, write_files

SARIF_SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json").read_text())
SECRET_VALUE = "s3cr3t-hunter2"


def deployment(name: str, ns: str, image: str = "registry.example/app:1.2.3", replicas: int = 2,
               extra: str = "", resources: bool = True) -> str:
    res = ", resources: {requests: {cpu: 10m}, limits: {memory: 64Mi}}" if resources else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n"
            f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n"
            f"      containers: [{{name: c, image: '{image}'{extra}{res}}}]\n")


def application(name: str, path: str, ns: str, project: str = "default", policy: str = "",
                annotations: str = "") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}{annotations}}}\n"
            f"spec:\n  project: {project}\n  source: {{repoURL: 'https://git.example.com/c.git', path: {path}, "
            f"targetRevision: HEAD}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}\n"
            + (f"  syncPolicy: {policy}\n" if policy else ""))


def project(name: str, windows: str = "", destinations: str = "[{server: '*', namespace: '*'}]") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {name}}}\n"
            f"spec:\n  sourceRepos: ['*']\n  destinations: {destinations}\n"
            + (f"  syncWindows: {windows}\n" if windows else ""))


def lint(path: Path, *args: str) -> tuple[int, list[dict], str]:
    res = run_cli("kubectl-gitops", "lint", str(path), "-o", "json", *args, cwd=path if path.is_dir() else None)
    findings = json.loads(res.stdout)["findings"] if res.stdout.startswith("{") else []
    return res.returncode, findings, res.stderr


def rules(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


# One fixture that breaks a rule and one that follows it, per rule.
CASES = {
    "secret-in-git": (
        {"s.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: a}}\n"
                   f"stringData: {{password: {SECRET_VALUE}}}\n"},
        {"s.yaml": "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s, namespace: a}\n"
                   "spec: {encryptedData: {password: AgBy3i4OJSWK}}\n",
         "sops.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: a}\n"
                      "data: {password: 'ENC[AES256_GCM,data:abc]'}\nsops: {version: 3.8.1}\n"}),
    "image-latest": ({"d.yaml": deployment("d", "a", image="nginx:latest")},
                     {"d.yaml": deployment("d", "a", image="nginx@sha256:" + "a" * 64)}),
    "pull-always-mutable-tag": ({"d.yaml": deployment("d", "a", extra=", imagePullPolicy: Always")},
                                {"d.yaml": deployment("d", "a", image="nginx:1.27@sha256:" + "b" * 64,
                                                      extra=", imagePullPolicy: Always")}),
    "no-resources": ({"d.yaml": deployment("d", "a", resources=False)}, {"d.yaml": deployment("d", "a")}),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_object_rule_fires_and_stays_quiet(rule: str, tmp_path: Path) -> None:
    bad, good = CASES[rule]
    write_files(tmp_path / "bad", bad)
    write_files(tmp_path / "good", good)
    code, findings, err = lint(tmp_path / "bad")
    assert rule in rules(findings), (findings, err)
    hit = next(f for f in findings if f["rule"] == rule)
    assert hit["file"] and hit["line"] == 1 and hit["fix"] and hit["object"]
    code, findings, err = lint(tmp_path / "good")
    assert rule not in rules(findings), findings
    assert code == 0, err


def app_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "config"
    make_repo(repo, {"manifests/d.yaml": deployment("web", "shop-prod", replicas=3), **files},
              origin="https://git.example.com/c.git")  # what the Applications name: this repository
    return repo


def test_app_rules_fire_on_a_production_app_without_windows_or_self_heal(tmp_path: Path) -> None:
    repo = app_repo(tmp_path, {
        "apps/shop.yaml": application("shop-prod", "manifests", "shop-prod", project="open",
                                      policy="{automated: {prune: true}}"),
        "apps/project.yaml": project("open"),
        "manifests/one.yaml": deployment("single", "shop-prod", replicas=1),
        "Dockerfile": "FROM scratch\n",
    })
    code, findings, err = lint(repo / "apps")
    assert code == 1, err
    assert {"prod-without-sync-window", "automated-without-self-heal", "prune-without-destination-limits",
            "app-code-in-config-repo", "prod-single-replica"} <= rules(findings), findings
    single = [f for f in findings if f["rule"] == "prod-single-replica"]
    assert [f["object"] for f in single] == ["Deployment shop-prod/single"]
    assert single[0]["file"] == "manifests/one.yaml"


def test_app_rules_stay_quiet_on_a_well_kept_production_app(tmp_path: Path) -> None:
    window = "[{kind: deny, schedule: '0 22 * * *', duration: 8h, applications: ['*']}]"
    repo = app_repo(tmp_path, {
        "apps/shop.yaml": application("shop-prod", "manifests", "shop-prod", project="shop",
                                      policy="{automated: {prune: true, selfHeal: true}}"),
        "apps/project.yaml": project("shop", windows=window,
                                     destinations="[{server: 'https://kubernetes.default.svc', namespace: shop-prod}]"),
    })
    code, findings, err = lint(repo / "apps")
    assert findings == [] and code == 0, (findings, err)


def test_automated_prod_app_with_only_an_allow_window(tmp_path: Path) -> None:
    window = "[{kind: allow, schedule: '0 6 * * *', duration: 12h, namespaces: ['*-prod']}]"
    repo = app_repo(tmp_path, {
        "apps/shop.yaml": application("shop-prod", "manifests", "shop-prod", project="shop",
                                      policy="{automated: {selfHeal: true}}"),
        "apps/project.yaml": project("shop", windows=window),
    })
    _, findings, _ = lint(repo / "apps")
    assert rules(findings) == {"prod-automated-without-deny-window"}


def test_invalid_manifests_are_all_collected(tmp_path: Path) -> None:
    make_repo(tmp_path, {"README.md": "config\n"}, origin="https://git.example.com/c.git")
    write_files(tmp_path / "apps", {
        "a.yaml": application("a", "m", "ns", policy="{automated: true}"),
        "b.yaml": application("b", "m", "ns").replace("destination: {", "destination: {name: x, "),
        "c.yaml": application("c", "m", "ns", policy="{syncOptions: [Bogus=true]}"),
        "d.yaml": application("d", "m", "ns"),  # valid: its Deployment is not
    })
    write_files(tmp_path / "m", {"d.yaml": deployment("d", "ns").replace(
        "metadata: {name: d, namespace: ns}", "metadata: {name: d, namespace: ns, annotations: "
        "{argocd.argoproj.io/sync-wave: soon}}")})
    code, findings, err = lint(tmp_path / "apps")
    invalid = [f for f in findings if f["rule"] == "invalid-manifest"]
    assert code == 1, err
    assert {f["object"] for f in invalid} >= {"Application a", "Application b", "Application c",
                                              "Deployment ns/d"}, invalid
    assert all(f["file"] for f in invalid)


def test_config_file_and_annotation_disable_rules(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    make_repo(repo, {"m/d.yaml": deployment("d", "a", resources=False, image="nginx:latest"),
                     "m/e.yaml": deployment("e", "a", image="nginx").replace(
                         "metadata: {name: e, namespace: a}", "metadata: {name: e, namespace: a, annotations: "
                         "{kubectl-gitops.io/lint-disable: image-latest}}"),
                     ".gitops/lint.yaml": "disable: [no-resources]\nseverity: {image-latest: info}\n"})
    code, findings, err = lint(repo / "m")
    assert [(f["rule"], f["object"], f["severity"]) for f in findings] == [("image-latest", "Deployment a/d", "info")]
    assert code == 0, err  # info is below the default threshold (warning)
    code, _, _ = lint(repo / "m", "--severity", "info")
    assert code == 1
    write_files(repo, {".gitops/lint.yaml": "disable: [no-such-rule]\n"})
    code, _, err = lint(repo / "m")
    assert code == 2 and "unknown rule 'no-such-rule'" in err


def test_example_repo_shows_its_secret_and_sarif_validates(tmp_path: Path) -> None:
    repo = tmp_path / "platform-config"
    shutil.copytree(ROOT / "examples" / "platform-config", repo)
    make_repo(repo, {}, origin="https://git.example.com/platform/platform-config.git")
    _, findings, err = lint(repo / "apps")
    secret = [f for f in findings if f["rule"] == "secret-in-git"]
    assert secret and secret[0]["object"].startswith("Secret "), (findings, err)
    for fmt in ("text", "json", "sarif"):
        res = run_cli("kubectl-gitops", "lint", "apps", "-o", fmt, cwd=repo)
        assert "example-only-not-a-secret" not in res.stdout + res.stderr
    res = run_cli("kubectl-gitops", "lint", "apps", "-o", "sarif", cwd=repo)
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, SARIF_SCHEMA)
    results = doc["runs"][0]["results"]
    assert any(r["ruleId"] == "secret-in-git" and r["level"] == "error" for r in results)
    assert all("startLine" in r["locations"][0]["physicalLocation"].get("region", {"startLine": 1}) for r in results)


def test_no_secret_value_in_any_output(tmp_path: Path) -> None:
    write_files(tmp_path, {"s.yaml": CASES["secret-in-git"][0]["s.yaml"]})
    for fmt in ("text", "json", "sarif"):
        res = run_cli("kubectl-gitops", "lint", str(tmp_path), "-o", fmt)
        assert res.returncode == 1
        assert SECRET_VALUE not in res.stdout + res.stderr


def test_pre_commit_hook_runs_through_real_pre_commit(tmp_path: Path) -> None:
    """Our .pre-commit-hooks.yaml, installed by pre-commit itself from a clone of this repository."""
    hooks_repo = tmp_path / "hooks"
    shutil.copytree(ROOT, hooks_repo, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build",
                                                                    "__pycache__", ".pytest_cache", "dist"))
    make_repo(hooks_repo, {})
    rev = git(hooks_repo, "rev-parse", "HEAD").strip()
    config = tmp_path / "config"
    make_repo(config, {"d.yaml": deployment("d", "a", image="nginx:latest"),
                       ".pre-commit-config.yaml": f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n"
                                                  "    hooks: [{id: kubectl-gitops-lint}]\n"})
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    pre_commit = VENV_BIN / "pre-commit"
    res = subprocess.run([str(pre_commit), "run", "--all-files"], cwd=config, env=env, capture_output=True, text=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "image-latest" in res.stdout and "kubectl-gitops lint" in res.stdout
    write_files(config, {"d.yaml": deployment("d", "a")})
    res = subprocess.run([str(pre_commit), "run", "--all-files"], cwd=config, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
