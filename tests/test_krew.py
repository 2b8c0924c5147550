"""kubectl-gitops installs with krew, for real: krew itself (built from the Go module proxy by
scripts/build-krew) installs the archive and manifest that scripts/build-krew-archive (`make dist`) builds,
and the plugin it installs works through kubectl the way a user runs it, offline, with the tool's own
output and exit codes."""

from __future__ import annotations

import configparser
import hashlib
import importlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN, Cluster
from diff_helpers import Repo, configmap, statuses

MANIFEST = ROOT / "krew" / "gitops.yaml"
ALL_PLATFORMS = {("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")}
# Any attempt to reach a package index or the network through a proxy fails at once.
OFFLINE = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def _run(argv: list[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None,
         check: bool = False) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True)
    if check and res.returncode != 0:
        pytest.fail(f"{argv} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


def setup_cfg_version() -> str:
    """The version setup.cfg declares (`attr:` resolved the way setuptools does, from the source)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    version = cfg["metadata"]["version"].strip()
    if version.startswith("attr:"):
        module, _, attr = version.removeprefix("attr:").strip().rpartition(".")
        return getattr(importlib.import_module(module), attr)
    return version


def native_platform() -> tuple[str, str]:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    return sys.platform, arch


@dataclass(frozen=True)
class Release:
    """One `make dist` build for this machine's platform, installed by krew into a KREW_ROOT of its own."""

    out: Path
    archive: Path
    manifest: Path
    krew_bin: Path
    krew_env: dict[str, str]
    kubectl: Path
    user_env: dict[str, str]  # PATH = krew's bin, kubectl, a base python3; nothing of this repo's venv
    cache: Path  # XDG_CACHE_HOME of the plugin's user
    install: subprocess.CompletedProcess[str]
    first_run: subprocess.CompletedProcess[str]

    def kubectl_gitops(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`kubectl gitops ARGS` as a krew user runs it."""
        return _run([self.kubectl, "gitops", *args], env={**self.user_env, **(env or {})})


def _venv_gitops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The same command from this repo's own installation (`pip install -e .`), to compare with."""
    return _run([VENV_BIN / "kubectl-gitops", *args], env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    tmp = tmp_path_factory.mktemp("krew")
    krew_bin = Path(_run([ROOT / "scripts" / "build-krew"], check=True).stdout.strip().splitlines()[-1])
    cp_bin = Path(_run([ROOT / "scripts" / "build-controlplane", "bin-dir"], check=True).stdout.strip())
    assert (cp_bin / "kubectl").is_file(), f"no kubectl in {cp_bin}: run `make controlplane`"

    os_, arch = native_platform()
    out = tmp / "dist"
    _run([sys.executable, ROOT / "scripts" / "build-krew-archive", "--out", out, "--platform", f"{os_}/{arch}"],
         check=True)
    archives = sorted(out.glob("*.tar.gz"))
    assert [a.name for a in archives] == [f"kubectl-gitops_v{setup_cfg_version()}_{os_}_{arch}.tar.gz"]

    krew_root = tmp / "krew-root"
    krew_env = {"PATH": os.environ["PATH"], "HOME": str(tmp / "home"), "KREW_ROOT": str(krew_root),
                "KREW_NO_UPGRADE_CHECK": "1", "TMPDIR": str(tmp)}
    install = _run([krew_bin / "krew", "install", f"--manifest={out / 'gitops.yaml'}", f"--archive={archives[0]}"],
                   env=krew_env)

    # The user's PATH: krew's bin, the control plane's kubectl, a plain python3 (not this repo's venv).
    base_python_dir = Path(sysconfig.get_config_var("BINDIR"))
    assert base_python_dir != VENV_BIN
    path = os.pathsep.join([str(krew_root / "bin"), str(cp_bin), str(base_python_dir), "/usr/bin", "/bin"])
    user_env = {**os.environ, **OFFLINE, "PATH": path, "XDG_CACHE_HOME": str(tmp / "cache"),
                "HOME": str(tmp / "home")}
    user_env.pop("KUBECTL_GITOPS_PYTHON", None)
    # The first run sets up the plugin's environment: with no network at all where Linux can take it away.
    offline = ["unshare", "--map-root-user", "--net"] if sys.platform == "linux" and shutil.which("unshare") else []
    first_run = _run([*offline, cp_bin / "kubectl", "gitops", "--help"], env=user_env)
    return Release(out, archives[0], out / "gitops.yaml", krew_bin, krew_env, cp_bin / "kubectl", user_env,
                   tmp / "cache", install, first_run)


# -- the manifest --------------------------------------------------------------------------------------

def test_manifest_versions_are_setup_cfgs(release: Release) -> None:
    want = f"v{setup_cfg_version()}"
    assert yaml.safe_load(MANIFEST.read_text())["spec"]["version"] == want
    assert yaml.safe_load(release.manifest.read_text())["spec"]["version"] == want


def test_committed_manifest_is_what_make_dist_writes(release: Release) -> None:
    """krew/gitops.yaml differs from a fresh build's manifest in the platforms' sha256 at most, and covers
    every platform; krew's validator accepts both (structure, selectors used and not overlapping)."""
    committed, built = yaml.safe_load(MANIFEST.read_text()), yaml.safe_load(release.manifest.read_text())
    assert {k: v for k, v in committed["spec"].items() if k != "platforms"} == \
           {k: v for k, v in built["spec"].items() if k != "platforms"}
    assert committed["metadata"] == built["metadata"] == {"name": "gitops"}
    by_platform = {(p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"]): p
                   for p in committed["spec"]["platforms"]}
    assert set(by_platform) == ALL_PLATFORMS
    (fresh,) = built["spec"]["platforms"]
    ours = by_platform[native_platform()]
    assert {k: v for k, v in ours.items() if k != "sha256"} == {k: v for k, v in fresh.items() if k != "sha256"}
    assert fresh["uri"].endswith("/" + release.archive.name)
    for manifest in (MANIFEST, release.manifest):
        res = _run([release.krew_bin / "validate-krew-manifest", "-manifest", manifest, "-skip-install"])
        assert res.returncode == 0, res.stderr
        assert "structural validation OK" in res.stderr and "no overlapping" in res.stderr


def test_manifest_sha256_is_the_archives_and_krew_checks_it(release: Release, tmp_path: Path) -> None:
    (entry,) = yaml.safe_load(release.manifest.read_text())["spec"]["platforms"]
    assert entry["sha256"] == hashlib.sha256(release.archive.read_bytes()).hexdigest()
    assert release.install.returncode == 0, release.install.stderr
    assert "Installed plugin: gitops" in release.install.stderr
    assert "python3 >= 3.11" in release.install.stderr  # the caveats are shown

    bad = tmp_path / "gitops.yaml"
    wrong = ("0" if entry["sha256"][0] != "0" else "1") + entry["sha256"][1:]
    bad.write_text(release.manifest.read_text().replace(entry["sha256"], wrong))
    env = {**release.krew_env, "KREW_ROOT": str(tmp_path / "root")}
    res = _run([release.krew_bin / "krew", "install", f"--manifest={bad}", f"--archive={release.archive}"], env=env)
    assert res.returncode != 0
    assert "checksum does not match" in res.stderr
    assert not (tmp_path / "root" / "bin" / "kubectl-gitops").exists()


def test_krew_records_the_plugin_and_links_its_bin(release: Release) -> None:
    root = Path(release.krew_env["KREW_ROOT"])
    receipt = yaml.safe_load((root / "receipts" / "gitops.yaml").read_text())  # what `krew list/upgrade` read
    assert receipt["metadata"]["name"] == "gitops"
    assert receipt["spec"]["version"] == f"v{setup_cfg_version()}"
    link = root / "bin" / "kubectl-gitops"
    assert link.is_symlink()
    assert link.resolve() == (root / "store" / "gitops" / f"v{setup_cfg_version()}" / "kubectl-gitops").resolve()
    assert os.access(link, os.X_OK)


# -- the installed plugin ------------------------------------------------------------------------------

def test_nothing_else_provides_the_plugin_on_the_users_path(release: Release) -> None:
    path = release.user_env["PATH"]
    assert shutil.which("kubectl-gitops", path=path) == str(Path(release.krew_env["KREW_ROOT"]) / "bin" /
                                                              "kubectl-gitops")
    for name in ("kubectl-gitops-diff", "kubectl-gitops-sync", "kubectl-gitops-status"):
        assert shutil.which(name, path=path) is None  # kubectl must fall back to krew's kubectl-gitops


def test_first_run_sets_up_offline_and_reports_on_stderr_only(release: Release) -> None:
    res = release.first_run
    assert res.returncode == 0, res.stderr
    assert res.stdout == _venv_gitops("--help").stdout  # the tool's own output, nothing added
    assert res.stdout.startswith("Usage: kubectl gitops [OPTIONS] COMMAND [ARGS]...\n")
    first, ready = res.stderr.splitlines()  # our two lines, nothing from venv or pip (no index tried)
    assert first.startswith(f"kubectl-gitops: first run of v{setup_cfg_version()}: setting up")
    assert ready.startswith("kubectl-gitops: ready in ")
    venv = release.cache / "kubectl-gitops" / "krew" / f"v{setup_cfg_version()}"
    assert (venv / "bin" / "python").exists()


def test_later_runs_exec_directly(release: Release) -> None:
    res = release.kubectl_gitops("--version")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == f"kubectl-gitops, version {setup_cfg_version()}\n"


@pytest.mark.parametrize("command", ["diff", "sync", "status"])
def test_kubectl_runs_subcommands_through_the_krew_bin(release: Release, command: str) -> None:
    res = release.kubectl_gitops(command, "--help")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout.startswith(f"Usage: kubectl gitops {command} [OPTIONS]")
    assert res.stdout == _venv_gitops(command, "--help").stdout


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["diff", "a dir with spaces/and 'quotes'", "--kubeconfig", "/nonexistent/kube config"],
    ["diff", "--output", "nonsense"],
    ["status", "--", "-x"],
])
def test_arguments_output_and_exit_codes_pass_through(release: Release, argv: list[str]) -> None:
    env = {"KUBECONFIG": str(ROOT / "tests" / ".no-kubeconfig")}  # whether or not the cluster is up
    got, want = release.kubectl_gitops(*argv, env=env), _venv_gitops(*argv, env=env)
    assert want.returncode == 2  # errors all, before anything is written
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)


def test_private_environment_has_every_dependency(release: Release) -> None:
    """Every install_requires distribution is in the plugin's environment, and the compiled ones import."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    names = [re.match(r"[A-Za-z0-9._-]+", line.strip()).group(0)
             for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    compiled = {"pygit2": "pygit2", "orjson": "orjson", "lupa": "lupa", "jq": "jq", "PyYAML": "yaml._yaml"}
    modules = [compiled[n] for n in names if n in compiled]
    assert "pygit2" in modules
    code = ("import importlib, importlib.metadata as md, sys, kubectl_gitops\n"
            "for name in sys.argv[1].split(','): md.distribution(name)\n"
            "for mod in sys.argv[2].split(','): importlib.import_module(mod)\n"
            "print(kubectl_gitops.__file__, kubectl_gitops.__version__)")
    venv = release.cache / "kubectl-gitops" / "krew" / f"v{setup_cfg_version()}"
    res = _run([venv / "bin" / "python", "-E", "-c", code, ",".join(names), ",".join(modules)],
               env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    file, version = res.stdout.split()
    assert Path(file).is_relative_to(venv)  # the wheel's copy, not this repo's lib/
    assert version == setup_cfg_version()


def test_diff_against_the_cluster_through_krew(release: Release, cluster: Cluster, namespace: str,
                                               tmp_path: Path) -> None:
    """The krew-installed plugin reads a revision with pygit2, talks to the API server and reports what the
    repo's own installation reports, exit codes included."""
    repo = Repo(tmp_path / "repo")
    repo.write("app/cm.yaml", configmap(namespace, "krew", {"k": "v"}))
    repo.git("add", ".")
    repo.git("commit", "-q", "-m", "cm")
    env = {"KUBECONFIG": str(cluster.kubeconfig)}
    argv = ["diff", "app", "--revision", "HEAD"]

    def both() -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        got = _run([release.kubectl, "gitops", *argv], env={**release.user_env, **env}, cwd=repo.root)
        want = _run([VENV_BIN / "kubectl-gitops", *argv], env={**os.environ, **env}, cwd=repo.root)
        return got, want

    got, want = both()
    assert got.returncode == 1, got.stderr
    assert statuses(got.stdout) == {("app", "ConfigMap", namespace, "krew"): "Missing"}
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout)

    cluster.kubectl("create", "configmap", "krew", "-n", namespace, "--from-literal=k=v")
    got, want = both()
    assert got.returncode == 0, got.stderr
    assert statuses(got.stdout) == {("app", "ConfigMap", namespace, "krew"): "Synced"}
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout)
