"""The work-tree parse cache of render.py and the lazy pygit2 of source.py, on real files.

Most tests shrink render.RACY_WINDOW_NS so that "old enough to trust" is a short sleep away; the racy
test keeps the real window. A spy on yamlio.load_all (the parser, not the filesystem) shows which
files a render actually parsed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gitrepo import git, make_repo
from kubectl_gitops import yamlio
from kubectl_gitops.appsource import Directory, Source
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import Manifest, Request
from kubectl_gitops.render import cache as cache_mod
from kubectl_gitops.render import directory as render_mod
from kubectl_gitops.render import render as render_request
from kubectl_gitops.render.directory import render_directory, worktree_cache_path
from kubectl_gitops.source import open_local
from kubectl_gitops.trees import Tree

SHORT_WINDOW_S = 0.2


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_mod, "RACY_WINDOW_NS", int(SHORT_WINDOW_S * 1e9))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the files each render parsed as YAML, in order; cleared by the caller."""
    names: list[str] = []
    real = yamlio.load_all

    def spy(text: str | bytes, source: str) -> Iterator[Any]:
        names.append(Path(source).name)
        return real(text, source)

    monkeypatch.setattr(yamlio, "load_all", spy)
    yield names


def settle(window_s: float = SHORT_WINDOW_S) -> None:
    """Wait until every file written so far is older than the racy window."""
    time.sleep(window_s + 0.1)


def cm(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value!r}\n"


def write(app: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)


def render(tree: Tree, path: str, d: Directory) -> list[Manifest]:
    return render_request(Request(tree, path, Source(repo_url="", path=path, directory=d)))


def run(app: Path, d: Directory | None = None) -> list[Manifest]:
    return render(Tree(root=app, tree_id=None, label="work tree"), ".", d or Directory())


def names(manifests: list[Manifest]) -> list[str]:
    return [m.obj["metadata"]["name"] for m in manifests]


def inside_git(path: Path) -> bool:
    return any(os.path.lexists(p / ".git") for p in (path, *path.parents))


def cache_entries(app: Path, d: Directory | None = None) -> dict[str, Any]:
    return orjson.loads(worktree_cache_path(app, d or Directory()).read_bytes())["files"]


MIXED = {
    "a.yaml": cm("a") + "---\n" + cm("a2", "x"),
    "b.yml": textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMapList
        items:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: b1, labels: {n: "0123"}}, data: {u: "é ✓"}}
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: b2, annotations: {f: "1.0"}}
            binaryData: null
        """),
    "c.yaml": textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: c}
        spec: {replicas: 1, paused: true, progressDeadlineSeconds: 600, minReadySeconds: 0,
               template: {spec: {containers: [{name: x, resources: {limits: {cpu: 1.5}}}]}}}
        """),
    "d.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}',
}


def test_a_cache_hit_gives_the_same_manifests_and_origins(tmp_path: Path, short_window: None,
                                                          parsed: list[str]) -> None:
    app = tmp_path / "app"
    write(app, MIXED)
    settle()
    first = run(app)
    assert parsed == ["a.yaml", "b.yml", "c.yaml"]
    parsed.clear()
    second = run(app)
    assert parsed == []  # every YAML document came from the cache
    uncached = render_directory(app, Directory())
    # repr tells True from 1 and 1.5 from "1.5"; origins are the files' paths as before
    assert repr(second) == repr(first) == repr(uncached)
    assert [m.origin for m in second] == [str(app / f) for f in ("a.yaml", "a.yaml", "b.yml", "b.yml", "c.yaml",
                                                                  "d.json")]
    assert names(second) == ["a", "a2", "b1", "b2", "c", "d"]


def test_yaml_that_json_cannot_hold_is_parsed_every_time(tmp_path: Path, short_window: None,
                                                        parsed: list[str]) -> None:
    app = tmp_path / "app"
    write(app, {"dates.yaml": cm("dates") + "  when: 2024-01-02\n",
                "keys.yaml": cm("keys") + "  1: one\n",
                "plain.yaml": cm("plain")})
    settle()
    first = run(app)
    parsed.clear()
    second = run(app)
    assert parsed == ["dates.yaml", "keys.yaml"]
    assert repr(second) == repr(first)  # a datetime.date and an int key, not strings
    assert list(cache_entries(app)) == [str(app / "plain.yaml")]


def test_an_edit_that_keeps_the_size_is_picked_up(tmp_path: Path, short_window: None, parsed: list[str]) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a", "1"), "b.yaml": cm("b")})
    settle()
    run(app)
    f = app / "a.yaml"
    before = f.stat()

    f.write_text(cm("a", "2"))  # same size, later mtime
    assert f.stat().st_size == before.st_size
    settle()  # old enough to be trusted: only its stat can tell it changed
    parsed.clear()
    assert run(app)[0].obj["data"] == {"k": "2"}
    assert parsed == ["a.yaml"]

    # Same size and the mtime set back to what the cache holds: ctime still tells.
    stored = f.stat()
    f.write_text(cm("a", "3"))
    os.utime(f, ns=(stored.st_atime_ns, stored.st_mtime_ns))
    assert f.stat().st_mtime_ns == stored.st_mtime_ns
    settle()
    parsed.clear()
    assert run(app)[0].obj["data"] == {"k": "3"}
    assert parsed == ["a.yaml"]
    parsed.clear()
    run(app)
    assert parsed == []


def test_a_file_changed_within_the_racy_window_is_parsed_every_time(tmp_path: Path, parsed: list[str]) -> None:
    """With the real window. A second edit in the same timestamp tick leaves a stat unchanged; the
    kernel does not let a test produce that on demand, so the test writes the cache entry such a
    run would have left: the file's current stat with the documents of its previous content."""
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a", "new")})
    cache_file = worktree_cache_path(app, Directory())
    cache_file.parent.mkdir(parents=True)

    def plant_stale_entry() -> None:
        st = (app / "a.yaml").stat()
        stale = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "old"}}]
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        cache_file.write_bytes(orjson.dumps({"version": render_mod.WORKTREE_CACHE_VERSION,
                                             "files": {str(app / "a.yaml"): [stamp, stale]}}))

    plant_stale_entry()
    for _ in range(2):  # "every time": the second render is no different
        parsed.clear()
        assert run(app)[0].obj["data"] == {"k": "new"}
        assert parsed == ["a.yaml"]
        plant_stale_entry()

    # The control: once the file is old enough, the very same entry is trusted (and here it lies,
    # which is the point: only the window kept it out above).
    settle(render_mod.RACY_WINDOW_NS / 1e9)
    parsed.clear()
    assert run(app)[0].obj["data"] == {"k": "old"}
    assert parsed == []


def test_a_recent_file_is_not_stored_until_it_is_old_enough(tmp_path: Path, short_window: None,
                                                           parsed: list[str]) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a")})
    run(app)
    run(app)
    assert parsed == ["a.yaml", "a.yaml"]
    assert not worktree_cache_path(app, Directory()).exists()  # nothing to store: no write at all
    settle()
    parsed.clear()
    run(app)
    run(app)
    assert parsed == ["a.yaml"]


def test_added_deleted_and_excluded_files(tmp_path: Path, short_window: None, parsed: list[str]) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a"), "b.yaml": cm("b"), "sub/c.yaml": cm("c"), ".hidden.yaml": cm("h")})
    settle()
    assert names(run(app)) == ["a", "b"]
    cache_file = worktree_cache_path(app, Directory())
    written = cache_file.stat()
    assert names(run(app)) == ["a", "b"]
    assert (cache_file.stat().st_ino, cache_file.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)

    (app / "b.yaml").unlink()
    write(app, {"aa.yaml": cm("aa")})
    parsed.clear()
    assert names(run(app)) == ["a", "aa"]
    assert parsed == ["aa.yaml"]
    assert list(cache_entries(app)) == [str(app / "a.yaml")]  # b dropped; aa too recent to store

    settle()
    assert names(run(app)) == ["a", "aa"]  # now aa is stored too
    recurse = Directory(recurse=True)
    assert names(run(app, recurse)) == ["a", "aa", "c"]
    assert names(run(app, Directory(recurse=True, exclude="a*.yaml"))) == ["c"]
    assert names(run(app, Directory(recurse=True, include="{a,sub/c}.yaml"))) == ["a", "c"]
    parsed.clear()
    assert names(run(app, recurse)) == ["a", "aa", "c"]
    assert names(run(app)) == ["a", "aa"]
    assert parsed == []


def test_invalid_yaml_still_fails_with_file_and_line_after_a_cached_run(tmp_path: Path, short_window: None) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a"), "b.yaml": cm("b")})
    settle()
    run(app)
    cached = cache_entries(app)

    write(app, {"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n"})
    for _ in range(2):  # recent, then old enough: a failed parse is never stored
        with pytest.raises(GitopsError) as err:
            run(app)
        assert str(err.value).startswith(f"{app / 'b.yaml'}:5:2: invalid YAML: ")
        assert cache_entries(app) == cached  # the failed run left the cache as it was
        settle()

    write(app, {"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})  # parses, does not validate
    settle()
    for _ in range(2):
        with pytest.raises(GitopsError, match=r"b\.yaml: document 1 \(ConfigMap\) has no metadata\.name"):
            run(app)

    write(app, {"b.yaml": cm("b")})
    assert names(run(app)) == ["a", "b"]


@pytest.mark.parametrize("content", [b"\x00not json", b'{"version": "1", "files": {', b"[]",
                                     b'{"version": "1", "files": []}', b'{"version": "0", "files": {}}',
                                     b"ENTRIES"])
def test_a_corrupt_cache_file_is_ignored(tmp_path: Path, short_window: None, parsed: list[str],
                                         content: bytes) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a"), "b.yaml": cm("b")})
    settle()
    good = run(app)
    cache_file = worktree_cache_path(app, Directory())
    if content == b"ENTRIES":  # well-formed JSON, entries of the wrong shape
        entries = {str(app / "a.yaml"): [1, 2], str(app / "b.yaml"): ["x", {"not": "a list"}]}
        content = orjson.dumps({"version": render_mod.WORKTREE_CACHE_VERSION, "files": entries})
    cache_file.write_bytes(content)
    parsed.clear()
    assert repr(run(app)) == repr(good)
    assert parsed == ["a.yaml", "b.yaml"]
    parsed.clear()
    assert repr(run(app)) == repr(good)  # rewritten whole
    assert parsed == []


# -- lazy pygit2 -----------------------------------------------------------------------------------

def test_a_plain_directory_outside_git_does_not_import_pygit2(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app, {"a.yaml": cm("a")})
    if inside_git(app):
        pytest.skip(f"{tmp_path} is inside a git repository")
    script = textwrap.dedent(f"""\
        import sys
        from pathlib import Path
        from kubectl_gitops.appsource import Directory, Source
        from kubectl_gitops.render import Request, render
        from kubectl_gitops.source import open_local
        from kubectl_gitops.trees import Tree
        app = Path({str(app)!r})
        assert open_local(app) is None
        req = Request(Tree(root=app, tree_id=None, label="work tree"), ".", Source("", ".", directory=Directory()))
        assert len(render(req)) == 1
        print("pygit2" in sys.modules)
        """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    assert res.stdout == "False\n"


def test_open_local_finds_repositories_worktrees_and_symlinked_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"apps/web/cm.yaml": cm("web")})
    found = open_local(repo / "apps" / "web")
    assert found is not None and found.workdir == repo.resolve()
    assert open_local(repo / "apps" / "web" / "cm.yaml") is not None  # a file as the start

    # A `git worktree` checkout has a .git *file*.
    git(repo, "worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"))
    assert (tmp_path / "wt" / ".git").is_file()
    wt = open_local(tmp_path / "wt" / "apps")
    assert wt is not None and wt.workdir == (tmp_path / "wt").resolve()

    # Reached through a symlink from outside: git looks from the real directory.
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "link").symlink_to(repo / "apps")
    linked = open_local(tmp_path / "outside" / "link" / "web")
    assert linked is not None and linked.workdir == repo.resolve()

    # A bare repository has no work tree.
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "bare.git"))
    assert open_local(tmp_path / "bare.git" / "refs") is None
    if not inside_git(tmp_path):
        assert open_local(tmp_path / "outside") is None


def test_a_git_tree_render_json_cannot_hold_is_rendered_again_not_cached(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"dates/cm.yaml": cm("dates") + "  when: 2024-01-02\n",
                                         "keys/cm.yaml": cm("keys") + "  1: one\n",
                                         "plain/cm.yaml": cm("plain")})
    local = open_local(repo)
    assert local is not None
    tree = local.revision("HEAD")
    for path in ("dates", "keys", "plain"):
        first = render(tree, path, Directory())
        assert repr(render(tree, path, Directory())) == repr(first)
    assert len(list((tmp_path / "cache" / "kubectl-gitops" / "render").rglob("*.json"))) == 1  # plain's


def test_renders_kept_in_memory_for_a_watch_hold_secrets_off_disk_until_swept(
        tmp_path: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n"
    repo = make_repo(tmp_path / "repo", {"app/s.yaml": secret, "app/cm.yaml": cm("c")})
    local = open_local(repo)
    assert local is not None
    tree = local.revision("HEAD")
    render(tree, "app", Directory())
    render(tree, "app", Directory())
    assert parsed == ["cm.yaml", "s.yaml"] * 2  # a Secret's render is never cached on disk: parsed each time

    monkeypatch.setattr(cache_mod, "_memory", None)
    memory = cache_mod.keep_in_memory()
    parsed.clear()
    first = render(tree, "app", Directory())
    first[0].obj["data"] = {"k": "changed by a caller"}
    again = render(tree, "app", Directory())
    assert parsed == ["cm.yaml", "s.yaml"]  # the second came from memory, as its own objects
    assert again[0].obj["data"] == {"k": "1"} and again[1].obj["stringData"] == {"password": "hunter2"}
    disk = tmp_path / "cache" / "kubectl-gitops" / "render"
    assert not any(b"hunter2" in f.read_bytes() for f in disk.rglob("*") if f.is_file())

    memory.sweep()  # asked for since the last sweep: kept
    parsed.clear()
    render(tree, "app", Directory())
    assert parsed == []
    memory.sweep()
    memory.sweep()  # not asked for by the reconcile in between: dropped
    render(tree, "app", Directory())
    assert parsed == ["cm.yaml", "s.yaml"]
