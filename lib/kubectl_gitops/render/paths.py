"""Every file a render reads stays inside its repository, as Argo CD requires.

A path is resolved first (symlinks followed), then it must be the tree's root or below it. A revision's
tree written to the cache leaves out symlinks that point outside it (trees.materialize records them in
`Tree.escapes`); reading through one of those is refused the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.trees import Tree


def confine(tree: Tree, path: Path, what: str, where: str, shown: str = "") -> Path:
    """`path` resolved; exit 2 naming it (as `shown`, else relative to the root) unless it stays inside."""
    real = path.resolve()
    _check(tree, tree.root.resolve(), real, path, what, where, shown)
    return real


def confine_files(tree: Tree, files: list[Path], what: str, where: str) -> None:
    """`confine` for many files (an app directory's manifests) at a fraction of the cost (resolving each
    of 10,000 files took most of a no-change diff's render): a file that is no symlink is inside when
    its directory is, and each directory is resolved once."""
    root = tree.root.resolve()
    checked: set[str] = set()
    for f in files:
        name = str(f)
        if tree.escapes or os.path.islink(name):
            _check(tree, root, f.resolve(), f, what, where)
        elif (parent := os.path.dirname(name)) not in checked:
            _check(tree, root, Path(parent).resolve(), f, what, where)
            checked.add(parent)


def _check(tree: Tree, root: Path, real: Path, path: Path, what: str, where: str, shown: str = "") -> None:
    def named() -> str:
        return shown or (Path(os.path.relpath(path, tree.root)).as_posix() if path.is_absolute() else str(path))

    if not real.is_relative_to(root):
        raise GitopsError(f"{where}: {what} {named()!r} is outside the repository",
                          hint="Argo CD reads only files inside the application's repository")
    if not tree.escapes:
        return
    rel = real.relative_to(root).as_posix()
    for link in tree.escapes:
        if rel == link or rel.startswith(f"{link}/"):
            raise GitopsError(f"{where}: {what} {named()!r} goes through the symlink {link!r}, which points "
                              "outside the repository")


def confine_tree(tree: Tree, top: Path, where: str) -> None:
    """No symlink below `top` (the app's directory, a chart, a kustomization) points outside the
    repository, as Argo CD checks an app path for out-of-bounds symlinks before rendering it."""
    root = tree.root.resolve()
    for p in _symlinks(top):
        if not p.resolve().is_relative_to(root):
            raise GitopsError(f"{where}: symlink {tree.display(p)!r} points outside the repository",
                              hint="Argo CD reads only files inside the application's repository")
    if tree.escapes:
        rel = top.resolve().relative_to(root).as_posix()
        for link in sorted(tree.escapes):
            if rel == "." or link == rel or link.startswith(f"{rel}/"):
                raise GitopsError(f"{where}: symlink {link!r} points outside the repository",
                                  hint="Argo CD reads only files inside the application's repository")


def _symlinks(top: Path) -> Iterator[Path]:
    """Every symlink below `top`, not followed; directory entries know theirs without a stat each."""
    todo = [str(top)]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:  # unreadable: skipped, as os.walk does (reading a file in it fails later)
            continue
        for e in entries:
            if e.is_symlink():
                yield Path(e.path)
            elif e.is_dir():
                todo.append(e.path)


def inside(tree: Tree, rel: str, what: str, where: str) -> Path:
    """A path given relative to the repository root (e.g. a Jsonnet lib), confined."""
    return confine(tree, tree.root / rel, what, where)
