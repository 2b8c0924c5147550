"""Every file a render reads stays inside its repository, as Argo CD requires.

A path is resolved first (symlinks followed), then it must be the tree's root or below it. A revision's
tree written to the cache leaves out symlinks that point outside it (trees.materialize records them in
`Tree.escapes`); reading through one of those is refused the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.trees import Tree


def confine(tree: Tree, path: Path, what: str, where: str, shown: str = "") -> Path:
    """`path` resolved; exit 2 naming it (as `shown`, else relative to the root) unless it stays inside."""
    root = tree.root.resolve()
    real = path.resolve()
    shown = shown or (Path(os.path.relpath(path, tree.root)).as_posix() if path.is_absolute() else str(path))
    if real != root and root not in real.parents:
        raise GitopsError(f"{where}: {what} {shown!r} is outside the repository",
                          hint="Argo CD reads only files inside the application's repository")
    rel = real.relative_to(root).as_posix()
    for link in tree.escapes:
        if rel == link or rel.startswith(f"{link}/"):
            raise GitopsError(f"{where}: {what} {shown!r} goes through the symlink {link!r}, which points "
                              "outside the repository")
    return real


def confine_tree(tree: Tree, top: Path, where: str) -> None:
    """No symlink below `top` (the app's directory, a chart, a kustomization) points outside the
    repository, as Argo CD checks an app path for out-of-bounds symlinks before rendering it."""
    root = tree.root.resolve()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            p = Path(dirpath, name)
            if p.is_symlink():
                real = p.resolve()
                if real != root and root not in real.parents:
                    raise GitopsError(f"{where}: symlink {tree.display(p)!r} points outside the repository",
                                      hint="Argo CD reads only files inside the application's repository")
    if tree.escapes:
        rel = top.resolve().relative_to(root).as_posix()
        for link in sorted(tree.escapes):
            if rel == "." or link == rel or link.startswith(f"{rel}/"):
                raise GitopsError(f"{where}: symlink {link!r} points outside the repository",
                                  hint="Argo CD reads only files inside the application's repository")


def inside(tree: Tree, rel: str, what: str, where: str) -> Path:
    """A path given relative to the repository root (e.g. a Jsonnet lib), confined."""
    return confine(tree, tree.root / rel, what, where)
