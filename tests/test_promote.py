"""`git promote` end to end: real repositories in temp dirs, the installed executable run as a user
would (`git-promote` directly and `git promote` through git), and the git CLI to check the result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import ROOT, VENV_BIN, run_cli
from gitrepo import git_daemon

EXAMPLE = ROOT / "examples" / "platform-config"
API = "registry.invalid/platform/api"
API_MIGRATE = "registry.invalid/platform/api-migrate"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def overlay(service: str, env: str) -> str:
    return f"services/{service}/overlays/{env}/kustomization.yaml"


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def promote(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("git-promote", *args, cwd=repo, env=env)


def commit_file(repo: Path, path: str, text: str, message: str) -> None:
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)


def tags(repo: Path, env: str) -> dict[str, str]:
    """newTag per image name across both services' overlays of `env`, read with the git CLI."""
    found = {}
    for service in ("api", "web"):
        name = None
        for line in git(repo, "show", f"HEAD:{overlay(service, env)}").splitlines():
            if line.strip().startswith("- name:"):
                name = line.split(":", 1)[1].strip()
            elif line.strip().startswith("newTag:") and name:
                found[name.rsplit("/", 1)[1]] = line.split(":", 1)[1].split("#")[0].strip().strip('"')
    return found


def state(repo: Path) -> tuple[str, str, str]:
    """HEAD, branch list and `git status`: a refusal must leave all three as they were."""
    return git(repo, "rev-parse", "HEAD"), git(repo, "branch", "-a"), git(repo, "status", "--porcelain")


@pytest.fixture(autouse=True)
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No global git config or identity from the developer's machine; git finds `git-promote`."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("XDG_CONFIG_HOME", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")


def init_repo(path: Path, message: str = "platform config") -> Path:
    """The files at `path` committed on main, by a committer set in the repository's config."""
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Pat Promoter")
    git(path, "config", "user.email", "pat@example.test")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


def example_repo(path: Path) -> Path:
    shutil.copytree(EXAMPLE, path)
    return init_repo(path)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return example_repo(tmp_path / "platform-config")


@pytest.fixture
def bare_remote(tmp_path: Path, repo: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return remote


@pytest.fixture
def daemon_url(tmp_path: Path, bare_remote: Path) -> Iterator[str]:
    """The bare remote served by `git daemon`. libgit2 pushes to a local path by writing the refs
    itself, without running hooks, so a hook can only reject a push made over a real transport."""
    with git_daemon(tmp_path, "--enable=receive-pack") as port:
        yield f"git://127.0.0.1:{port}/{bare_remote.name}"


# --- promotion ---------------------------------------------------------------------------------------


def test_promotes_along_the_chain_of_three_environments(repo: Path) -> None:
    assert tags(repo, "prod") == {"api": "1.0.0", "api-migrate": "1.0.0", "web": "1.0.0",
                                  "web-migrate": "1.0.0"}
    first = promote(repo, "prod")
    assert first.returncode == 0, first.stderr
    assert set(tags(repo, "prod").values()) == {"1.1.0"}

    assert promote(repo, "staging").returncode == 0
    assert set(tags(repo, "staging").values()) == {"1.2.0"}
    assert set(tags(repo, "prod").values()) == {"1.1.0"}

    assert promote(repo, "prod").returncode == 0
    assert set(tags(repo, "prod").values()) == {"1.2.0"}
    assert git(repo, "log", "--format=%s").splitlines() == [
        "promote staging → prod: api 1.2.0, web 1.2.0",
        "promote dev → staging: api 1.2.0, web 1.2.0",
        "promote staging → prod: api 1.1.0, web 1.1.0",
        "platform config",
    ]

    again = promote(repo, "prod")
    assert again.returncode == 1
    assert "nothing to promote" in again.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_only_the_changed_values_differ_byte_for_byte(repo: Path) -> None:
    before = {env: (repo / overlay("api", env)).read_bytes() for env in ("dev", "staging", "prod")}
    assert promote(repo, "prod").returncode == 0
    after = (repo / overlay("api", "prod")).read_bytes()
    assert after == before["prod"].replace(b'newTag: "1.0.0"', b'newTag: "1.1.0"')
    assert b'newTag: "1.1.0"  # pinned; never latest\n' in after
    assert (repo / overlay("api", "dev")).read_bytes() == before["dev"]
    assert (repo / overlay("api", "staging")).read_bytes() == before["staging"]
    # the committed blob is what is in the work tree, and nothing else changed
    assert git(repo, "show", f"HEAD:{overlay('api', 'prod')}").encode() == after
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD").split() == [overlay("api", "prod"),
                                                                         overlay("web", "prod")]


def test_an_anchor_on_the_promoted_value_stays_with_its_comment(repo: Path) -> None:
    path = overlay("api", "prod")
    text = (repo / path).read_text().replace('newTag: "1.0.0"  # pinned', 'newTag: &api "1.0.0"  # pinned')
    text = text.replace('api-migrate\n    newTag: "1.0.0"', "api-migrate\n    newTag: *api  # same as api")
    commit_file(repo, path, text, "api-migrate follows api")
    assert promote(repo, "prod", "--service", "api").returncode == 0
    after = (repo / path).read_text()
    assert after == text.replace('&api "1.0.0"', '&api "1.1.0"')  # the alias follows, nothing moves
    assert after.count("# pinned; never latest") == 1


def test_shows_the_diff_on_stdout_and_progress_on_stderr(repo: Path) -> None:
    result = promote(repo, "prod", "--service", "api")
    assert result.returncode == 0
    assert result.stdout.startswith(f"diff --git a/{overlay('api', 'prod')} b/{overlay('api', 'prod')}\n")
    assert '-    newTag: "1.0.0"  # pinned; never latest\n' in result.stdout
    assert '+    newTag: "1.1.0"  # pinned; never latest\n' in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr  # NO_COLOR is set by conftest
    short = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    assert result.stderr == f"[main {short}] promote staging → prod: api 1.1.0\n"


def test_dry_run_shows_the_diff_and_writes_nothing(repo: Path) -> None:
    before = state(repo)
    result = promote(repo, "prod", "--dry-run")
    assert result.returncode == 0
    assert '+    newTag: "1.1.0"' in result.stdout
    assert "dry run: nothing committed" in result.stderr
    assert state(repo) == before
    assert promote(repo, "dev", "--from", "dev", "--dry-run").returncode == 2


def test_service_and_image_narrow_the_promotion(repo: Path) -> None:
    assert promote(repo, "prod", "--service", "web").returncode == 0
    assert tags(repo, "prod") == {"api": "1.0.0", "api-migrate": "1.0.0", "web": "1.1.0",
                                  "web-migrate": "1.1.0"}
    # --image takes the full name or its last path segment
    assert promote(repo, "prod", "--image", "api").returncode == 0
    assert promote(repo, "prod", "--image", API_MIGRATE).returncode == 0
    assert git(repo, "log", "-2", "--format=%s").splitlines() == [
        "promote staging → prod: api 1.1.0", "promote staging → prod: api 1.1.0"]
    assert set(tags(repo, "prod").values()) == {"1.1.0"}


def test_from_overrides_the_source_environment(repo: Path) -> None:
    assert promote(repo, "prod", "--from", "dev").returncode == 0
    assert set(tags(repo, "prod").values()) == {"1.2.0"}
    assert git(repo, "log", "-1", "--format=%s").strip() == "promote dev → prod: api 1.2.0, web 1.2.0"
    # any environment can be the source, also one later in the chain
    assert promote(repo, "staging", "--from", "prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%(trailers:key=Promoted-From,valueonly)").strip() == "prod"


def test_copies_new_name_and_digest_and_adds_missing_entries(repo: Path) -> None:
    dev = overlay("api", "dev")
    text = (repo / dev).read_text().replace(
        '    newTag: "1.2.0"\nreplicas:',
        f'    newTag: "1.2.0"\n    digest: {DIGEST}\n'
        '  - name: registry.invalid/platform/sidecar\n    newName: mirror.invalid/sidecar\n'
        '    newTag: "0.9.0"\nreplicas:')
    commit_file(repo, dev, text, "dev: pin migrate by digest, add sidecar")
    before = (repo / overlay("api", "staging")).read_text()

    assert promote(repo, "staging", "--service", "api").returncode == 0
    after = (repo / overlay("api", "staging")).read_text()
    assert after == before.replace('newTag: "1.1.0"', 'newTag: "1.2.0"').replace(
        '    newTag: "1.2.0"\nreplicas:',
        f'    newTag: "1.2.0"\n    digest: {DIGEST}\n'
        '  - name: registry.invalid/platform/sidecar\n    newName: mirror.invalid/sidecar\n'
        '    newTag: "0.9.0"\nreplicas:')
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Image,valueonly)").split()
    assert trailers == [f"{API}:1.2.0", f"{API_MIGRATE}:1.2.0@{DIGEST}", "mirror.invalid/sidecar:0.9.0"]

    # a field the source does not set is removed: staging runs exactly what dev runs
    commit_file(repo, dev, text.replace(f"    digest: {DIGEST}\n", ""), "dev: tag only")
    assert promote(repo, "staging", "--service", "api", "--image", "api-migrate").returncode == 0
    assert "digest" not in (repo / overlay("api", "staging")).read_text()


# --- set-image ---------------------------------------------------------------------------------------


def test_set_image_pins_a_tag_in_dev(repo: Path) -> None:
    before = (repo / overlay("api", "dev")).read_text()
    result = promote(repo, "set-image", f"{API}=1.3.0", "--env", "dev")
    assert result.returncode == 0, result.stderr
    assert (repo / overlay("api", "dev")).read_text() == before.replace(
        'newTag: "1.2.0"  # pinned', 'newTag: "1.3.0"  # pinned')
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("set-image dev: api 1.3.0\n")
    assert message.rstrip().endswith(f"\n\nPromoted-To: dev\nImage: {API}:1.3.0")
    assert "Promoted-From" not in message
    # the same pin again: nothing to do
    assert promote(repo, "set-image", f"{API}=1.3.0", "--env", "dev").returncode == 1


def test_set_image_digest_defaults_to_the_first_environment_and_replaces_the_tag(repo: Path) -> None:
    assert promote(repo, "set-image", f"api-migrate@{DIGEST}", "web=2.0.0").returncode == 0
    text = (repo / overlay("api", "dev")).read_text()
    assert f"  - name: {API_MIGRATE}\n    digest: {DIGEST}\n" in text
    assert git(repo, "log", "-1", "--format=%s").strip() == "set-image dev: api @sha256:0123456789ab, web 2.0.0"


def test_set_image_adds_the_entry_only_with_service(repo: Path) -> None:
    missing = promote(repo, "set-image", "registry.invalid/platform/cache=1.0.0")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: no file in dev pins image registry.invalid/platform/cache\n")
    assert promote(repo, "set-image", "registry.invalid/platform/cache=1.0.0", "--service", "web").returncode == 0
    assert (repo / overlay("web", "dev")).read_text().endswith(
        '  - name: registry.invalid/platform/cache\n    newTag: "1.0.0"\nreplicas:\n  - name: web\n'
        "    count: 1\n")


def test_set_image_refuses_latest_and_bad_specs(repo: Path) -> None:
    before = state(repo)
    for spec in ("api=latest", "api", "api=", "api@sha256:short", "=1.0"):
        result = promote(repo, "set-image", spec)
        assert result.returncode == 2, spec
        assert result.stderr.startswith("error: "), spec
    assert state(repo) == before
    assert promote(repo, "set-image", "api=latest", "--allow-latest").returncode == 0


# --- status ------------------------------------------------------------------------------------------


def test_status_table_marks_environments_behind_the_one_before(repo: Path) -> None:
    assert promote(repo, "staging", "--service", "api").returncode == 0
    result = promote(repo, "status")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "IMAGE", "dev", "staging", "prod"]
    assert lines[1].split() == ["api", API, "1.2.0", "1.2.0", "1.0.0", "*"]
    assert lines[3].split() == ["web", "registry.invalid/platform/web", "1.2.0", "1.1.0", "*", "1.0.0", "*"]
    assert "* behind the environment before it" in result.stdout
    short = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    last = next(line for line in lines if line.startswith("staging "))
    assert last.split()[:2] == ["staging", short]
    assert last.endswith("promote dev → staging: api 1.2.0")


def test_status_json(repo: Path) -> None:
    assert promote(repo, "prod").returncode == 0
    assert promote(repo, "set-image", "api@" + DIGEST).returncode == 0
    data = json.loads(promote(repo, "status", "-o", "json").stdout)
    assert data["environments"] == ["dev", "staging", "prod"]
    api = next(s for s in data["services"] if s["image"] == API)
    assert api["service"] == "api"
    assert api["environments"]["dev"] == {"newName": None, "newTag": None, "digest": DIGEST,
                                          "image": f"{API}@{DIGEST}", "behind": False}
    assert api["environments"]["staging"]["behind"] is True
    assert api["environments"]["prod"] == {"newName": None, "newTag": "1.1.0", "digest": None,
                                           "image": f"{API}:1.1.0", "behind": False}
    assert data["lastChanges"]["prod"]["kind"] == "promote"
    assert data["lastChanges"]["prod"]["from"] == "staging"
    assert data["lastChanges"]["dev"]["kind"] == "set-image"
    assert data["lastChanges"]["dev"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert "staging" not in data["lastChanges"]


# --- undo --------------------------------------------------------------------------------------------


def test_undo_reverts_the_newest_promotions_one_by_one(repo: Path) -> None:
    original = (repo / overlay("api", "prod")).read_bytes()
    assert promote(repo, "prod").returncode == 0                # 1.0.0 -> 1.1.0
    first = git(repo, "rev-parse", "HEAD").strip()
    assert promote(repo, "staging").returncode == 0
    assert promote(repo, "prod").returncode == 0                # 1.1.0 -> 1.2.0
    second = git(repo, "rev-parse", "HEAD").strip()

    result = promote(repo, "undo", "prod")
    assert result.returncode == 0, result.stderr
    assert set(tags(repo, "prod").values()) == {"1.1.0"}
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith('Revert "promote staging → prod: api 1.2.0, web 1.2.0"\n\n'
                              f"This reverts commit {second}.\n")
    assert f"\nPromoted-To: prod\nReverts: {second}\nImage: {API}:1.1.0\n" in message

    assert promote(repo, "undo", "prod").returncode == 0
    assert (repo / overlay("api", "prod")).read_bytes() == original
    assert f"Reverts: {first}" in git(repo, "log", "-1", "--format=%B")
    assert set(tags(repo, "staging").values()) == {"1.2.0"}  # other environments untouched

    nothing = promote(repo, "undo", "prod")
    assert nothing.returncode == 1
    assert "nothing to undo" in nothing.stderr


def test_undo_one_service_then_the_rest(repo: Path) -> None:
    assert promote(repo, "prod").returncode == 0
    assert promote(repo, "undo", "prod", "--service", "web").returncode == 0
    assert tags(repo, "prod") == {"api": "1.1.0", "api-migrate": "1.1.0", "web": "1.0.0",
                                  "web-migrate": "1.0.0"}
    assert promote(repo, "undo", "prod").returncode == 0
    assert set(tags(repo, "prod").values()) == {"1.0.0"}
    assert promote(repo, "undo", "prod").returncode == 1


def test_undo_keeps_later_changes_to_other_lines(repo: Path) -> None:
    assert promote(repo, "prod").returncode == 0
    path = overlay("api", "prod")
    commit_file(repo, path, (repo / path).read_text().replace("count: 3", "count: 5"), "api prod: 5 replicas")
    assert promote(repo, "undo", "prod").returncode == 0
    text = (repo / path).read_text()
    assert "count: 5" in text
    assert 'newTag: "1.0.0"  # pinned' in text


def test_undo_refuses_when_a_later_commit_changed_the_same_lines(repo: Path) -> None:
    assert promote(repo, "prod").returncode == 0
    path = overlay("api", "prod")
    commit_file(repo, path, (repo / path).read_text().replace('"1.1.0"  #', '"1.1.1"  #'), "hotfix api 1.1.1")
    hotfix = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    before = state(repo)
    result = promote(repo, "undo", "prod")
    assert result.returncode == 2
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("error: cannot undo ")
    assert f"{hotfix} (hotfix api 1.1.1) changed the same lines of {path}" in first_line
    assert state(repo) == before


def test_undo_of_set_image(repo: Path) -> None:
    assert promote(repo, "set-image", "api=1.3.0").returncode == 0
    assert promote(repo, "undo", "dev").returncode == 0
    assert tags(repo, "dev")["api"] == "1.2.0"


# --- branches, worktrees, push -----------------------------------------------------------------------


def test_branch_commits_on_a_new_branch_and_checks_it_out(repo: Path) -> None:
    main = git(repo, "rev-parse", "main").strip()
    result = promote(repo, "prod", "--branch", "promote/prod-1.1.0")
    assert result.returncode == 0
    assert result.stderr.startswith("[promote/prod-1.1.0 ")
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "promote/prod-1.1.0"
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "rev-parse", "HEAD~1").strip() == main
    assert git(repo, "status", "--porcelain") == ""

    git(repo, "checkout", "-q", "main")
    taken = promote(repo, "prod", "--branch", "promote/prod-1.1.0")
    assert taken.returncode == 2
    assert "branch promote/prod-1.1.0 already exists" in taken.stderr
    assert promote(repo, "prod", "--branch", "bad..name").returncode == 2


def test_detached_head_needs_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    before = state(repo)
    result = promote(repo, "prod")
    assert result.returncode == 2
    assert result.stderr.startswith("error: HEAD is detached")
    assert state(repo) == before
    assert promote(repo, "prod", "--branch", "promote/prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%D").strip() == "HEAD -> promote/prod"


def test_works_in_a_worktree_made_by_git(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "release", str(worktree))
    result = promote(worktree, "prod")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("[release ")
    assert git(worktree, "status", "--porcelain") == ""
    assert git(repo, "status", "--porcelain") == ""
    assert set(tags(worktree, "prod").values()) == {"1.1.0"}
    assert set(tags(repo, "prod").values()) == {"1.0.0"}  # main's checkout is untouched
    assert git(repo, "log", "-1", "--format=%s", "release").startswith("promote staging → prod")


def test_push_to_a_local_bare_remote(repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    result = promote(repo, "prod", "--push")
    assert result.returncode == 0, result.stderr
    assert "pushed main to origin" in result.stderr
    assert git(bare_remote, "rev-parse", "main") == git(repo, "rev-parse", "main")

    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "review.git"))
    git(repo, "remote", "add", "review", str(tmp_path / "review.git"))
    assert promote(repo, "staging", "--branch", "promote/staging", "--push=review").returncode == 0
    assert git(tmp_path / "review.git", "log", "-1", "--format=%s", "promote/staging").startswith(
        "promote dev → staging")
    assert git(bare_remote, "branch", "--format=%(refname:short)").split() == ["main"]


def test_push_rejected_by_a_pre_receive_hook_is_an_error(repo: Path, bare_remote: Path,
                                                         daemon_url: str) -> None:
    hook = bare_remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'prod is frozen until Monday' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "remote", "add", "frozen", daemon_url)
    remote_main = git(bare_remote, "rev-parse", "main")

    result = promote(repo, "prod", "--push", "frozen")
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == ["error: frozen rejected main: pre-receive hook declined "
                     "(remote: prod is frozen until Monday)"]
    assert "the commit stays on main locally" in result.stderr
    assert git(bare_remote, "rev-parse", "main") == remote_main
    assert git(repo, "log", "-1", "--format=%s").startswith("promote staging → prod")

    hook.unlink()
    assert promote(repo, "prod", "--from", "dev", "--push", "frozen").returncode == 0
    assert git(bare_remote, "rev-parse", "main") == git(repo, "rev-parse", "main")


# --- refusals: one message, exit 2, nothing written ---------------------------------------------------


def _make_dev_api(repo: Path, replace: str, by: str) -> None:
    path = overlay("api", "dev")
    commit_file(repo, path, (repo / path).read_text().replace(replace, by, 1), "dev: unpinned")


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda r: (r / overlay("api", "prod")).write_text("# edited\n"), ["prod"],
     f"error: {overlay('api', 'prod')} has uncommitted changes"),
    (lambda r: git(r, "rm", "-q", "--cached", overlay("web", "prod")), ["prod"],
     f"error: {overlay('web', 'prod')} has uncommitted changes"),
    (lambda r: _make_dev_api(r, '"1.2.0"  #', "latest  #"), ["staging"],
     f"error: dev: image {API} is tagged latest in {overlay('api', 'dev')}; "
     "promoting it would not pin a version"),
    (lambda r: _make_dev_api(r, '    newTag: "1.2.0"\nreplicas', "replicas"), ["staging"],
     f"error: dev: image {API_MIGRATE} has no tag or digest in {overlay('api', 'dev')}; "
     "promoting it would not pin a version"),
    (None, ["prd"], "error: unknown environment 'prd'; known (from the layout "
                    "services|apps/<svc>/overlays/<env>): dev, staging, prod"),
    (None, ["prod", "--from", "qa"], "error: unknown environment 'qa'; known"),
    (None, ["prod", "--from", "prod"], "error: cannot promote prod into itself"),
    (None, ["dev"], "error: dev is the first environment; nothing is promoted into it"),
    (None, ["prod", "--service", "db"], "error: unknown service 'db'; known: api, web"),
    (None, ["prod", "--image", "db"], "error: no image 'db' in staging"),
    (None, ["prod", "--push", "upstream"], "error: no remote named 'upstream'; known: none"),
    (None, ["undo", "qa"], "error: unknown environment 'qa'"),
    (None, ["set-image", "api=2.0", "--env", "qa"], "error: unknown environment 'qa'"),
])
def test_refusals(repo: Path, setup: Callable[[Path], object] | None, args: list[str], message: str) -> None:
    if setup:
        setup(repo)
    before = state(repo)
    result = promote(repo, *args)
    assert result.returncode == 2
    assert result.stdout == ""  # refused before the diff
    assert result.stderr.startswith(message)
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
    assert state(repo) == before


def test_allow_latest(repo: Path) -> None:
    _make_dev_api(repo, '"1.2.0"  #', "latest  #")
    assert promote(repo, "staging", "--allow-latest").returncode == 0
    assert tags(repo, "staging")["api"] == "latest"


def test_uncommitted_source_changes_are_not_promoted(repo: Path) -> None:
    path = overlay("api", "dev")
    (repo / path).write_text((repo / path).read_text().replace('"1.2.0"  #', '"9.9.9"  #'))
    result = promote(repo, "staging", "--service", "api")
    assert result.returncode == 0
    assert f"note: {path} has uncommitted changes; promoting what is committed" in result.stderr
    assert tags(repo, "staging")["api"] == "1.2.0"
    assert git(repo, "status", "--porcelain").split() == ["M", path]


def test_not_a_repository_and_empty_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert promote(plain, "prod").stderr.startswith(f"error: {plain} is not in a git repository")
    git(plain, "init", "-q")
    result = promote(plain, "status")
    assert result.returncode == 2
    assert "has no commits yet" in result.stderr


# --- layout configuration -----------------------------------------------------------------------------


def test_custom_environments_need_the_config_file(repo: Path) -> None:
    for service in ("api", "web"):
        git(repo, "mv", f"services/{service}/overlays/staging", f"services/{service}/overlays/canary")
    git(repo, "commit", "-q", "-m", "staging is now canary")
    unknown = promote(repo, "prod")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: cannot tell where environment canary goes in the promotion order")

    (repo / ".gitops").mkdir()
    commit_file(repo, ".gitops/promotion.yaml", "environments: [dev, canary, prod]\n", "promotion chain")
    assert promote(repo, "prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%s").startswith("promote canary → prod")


def test_config_file_places_services_elsewhere(repo: Path) -> None:
    git(repo, "mv", "services/web", "legacy-web")
    (repo / ".gitops").mkdir()
    commit_file(repo, ".gitops/promotion.yaml",
                "environments: [dev, staging, prod]\nservices:\n  web: legacy-web/overlays/{env}\n", "layout")
    assert promote(repo, "prod", "--service", "web").returncode == 0
    assert git(repo, "diff", "--name-only", "HEAD~1").split() == ["legacy-web/overlays/prod/kustomization.yaml"]


def test_invalid_config_file_is_named(repo: Path) -> None:
    (repo / ".gitops").mkdir()
    commit_file(repo, ".gitops/promotion.yaml", "environments: dev\n", "bad")
    result = promote(repo, "status")
    assert result.returncode == 2
    assert result.stderr.startswith("error: .gitops/promotion.yaml: environments: must be a list")


# --- the git CLI's view -------------------------------------------------------------------------------


def test_git_log_and_show_see_the_commits_and_trailers(repo: Path) -> None:
    assert promote(repo, "prod").returncode == 0
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == \
        "Pat Promoter <pat@example.test>|Pat Promoter <pat@example.test>"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Promoted-From,valueonly)").strip() == "staging"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Promoted-To,valueonly)").strip() == "prod"
    assert git(repo, "log", "-1", "--format=%(trailers:key=Image,valueonly)").split() == [
        f"{API}:1.1.0", f"{API_MIGRATE}:1.1.0", "registry.invalid/platform/web:1.1.0",
        "registry.invalid/platform/web-migrate:1.1.0"]
    shown = git(repo, "show", "--format=%B", "HEAD")
    assert f"  {API}: 1.0.0 → 1.1.0\n" in shown
    assert '-    newTag: "1.0.0"  # pinned; never latest\n+    newTag: "1.1.0"  # pinned; never latest\n' in shown
    assert git(repo, "show", "--stat", "--format=", "HEAD").splitlines()[-1].strip() == \
        "2 files changed, 4 insertions(+), 4 deletions(-)"
    git(repo, "fsck", "--strict")
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "reflog", "-1", "--format=%gs").startswith("commit: promote staging → prod")


def test_identity_from_the_environment(repo: Path) -> None:
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    assert "no committer identity" in promote(repo, "prod").stderr
    result = promote(repo, "prod", GIT_AUTHOR_NAME="CI", GIT_AUTHOR_EMAIL="ci@example.test",
                     GIT_COMMITTER_NAME="Bot", GIT_COMMITTER_EMAIL="bot@example.test")
    assert result.returncode == 0
    assert git(repo, "log", "-1", "--format=%an|%cn").strip() == "CI|Bot"


# --- as a git subcommand ------------------------------------------------------------------------------


def test_runs_as_git_promote(repo: Path) -> None:
    done = subprocess.run(["git", "promote", "prod", "--service", "api"], cwd=repo, text=True,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    assert tags(repo, "prod")["api"] == "1.1.0"
    status = subprocess.run(["git", "promote", "status"], cwd=repo, text=True, capture_output=True)
    assert status.returncode == 0
    assert status.stdout.startswith("SERVICE")


def test_short_help_is_click_help(repo: Path) -> None:
    done = subprocess.run(["git", "promote", "-h"], cwd=repo, text=True, capture_output=True)
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: git promote ENV [OPTIONS]\n       git promote COMMAND [ARGS]...\n")
    for command in ("ENV", "set-image", "status", "undo"):
        assert f"\n  {command} " in done.stdout
    env_help = promote(repo, "prod", "-h")
    assert env_help.stdout.startswith("Usage: git promote [to] ENV [OPTIONS]\n")
    for option in ("--from", "--service", "--image", "--allow-latest", "--dry-run", "--branch", "--push"):
        assert option in env_help.stdout
    assert "--output" in promote(repo, "status", "-h").stdout
    assert promote(repo, "to", "prod", "--dry-run").returncode == 0


def test_man_page_documents_every_command_and_option() -> None:
    page = (ROOT / "man" / "git-promote.1").read_text()
    assert page.startswith(".TH GIT\\-PROMOTE 1")
    for word in ("set\\-image", "status", "undo", "\\-\\-from", "\\-\\-service", "\\-\\-image", "\\-\\-env",
                 "\\-\\-allow\\-latest", "\\-\\-dry\\-run", "\\-\\-branch", "\\-\\-push", "\\-\\-output",
                 "Promoted\\-From", "NO_COLOR", ".gitops/promotion.yaml"):
        assert word in page, word
    if shutil.which("groff"):
        rendered = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / "git-promote.1")],
                                  capture_output=True, text=True)
        assert rendered.returncode == 0
        assert rendered.stderr == ""
