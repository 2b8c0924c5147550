"""Argo CD's bundled health checks: a resource_customizations directory, and fetching a release's into the cache.

The layout is Argo CD's: `<group>/<Kind>/health.lua` (core kinds: `<Kind>/health.lua`), where `_` in a
directory name is a wildcard (`_.crossplane.io/_/health.lua` serves every kind of every crossplane.io
group). Which directory: --resource-customizations (or $KUBECTL_GITOPS_RESOURCE_CUSTOMIZATIONS), else
the copy `kubectl gitops health fetch` last put in the cache, else none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.settings import Settings
from kubectl_gitops.source import fetch_release
from kubectl_gitops.trees import cache_dir

SUBDIR = "resource_customizations"
SCRIPT = "health.lua"


def load(root: Path) -> dict[str, str]:
    """The health scripts of a resource_customizations directory, by override key ("group/Kind", "Kind",
    with `*` where the directory name has `_`)."""
    if not root.is_dir():
        raise GitopsError(f"{root}: no such resource customizations directory",
                          hint="point --resource-customizations at a copy of argo-cd's resource_customizations, "
                               "or run `kubectl gitops health fetch`")
    scripts: dict[str, str] = {}
    for path in sorted(root.rglob(SCRIPT)):
        parts = path.parent.relative_to(root).parts
        if len(parts) not in (1, 2):
            continue  # not a check: Argo CD reads <group>/<Kind>/ and <Kind>/ only
        try:
            scripts["/".join(parts).replace("_", "*")] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise GitopsError(f"{path}: cannot read the health check: {err}") from None
    return scripts


def with_bundled(settings: Settings, chosen: str | None) -> Settings:
    """`settings` with the health checks of the chosen (or the fetched default) directory below argocd-cm's."""
    root = location(chosen)
    if root is None:
        return settings
    return replace(settings, health=replace(settings.health, bundled=load(root)))


def location(chosen: str | None) -> Path | None:
    """The directory to use: the one chosen by flag or environment, else the fetched default, else None."""
    if chosen:
        return Path(chosen)
    default = _default_marker()
    if not default.exists():
        return None
    hint = f"run `kubectl gitops health fetch` again, or delete {default} to go without"
    try:
        fetched = Path(json.loads(default.read_text())["path"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GitopsError(f"{default}: unreadable ({err})", hint=hint) from None
    if not fetched.is_dir():
        raise GitopsError(f"{fetched}: the fetched resource customizations are gone from the cache", hint=hint)
    return fetched


@dataclass(frozen=True)
class Fetched:
    version: str
    path: Path
    checks: int


def fetch(version: str | None, url: str) -> Fetched:
    """A release's resource_customizations into the cache, made the default for later runs."""
    tag = None if version is None else version if version.startswith("v") else f"v{version}"
    tree, tag = fetch_release(url, tag, SUBDIR)
    checks = len(load(tree.root))
    marker = _default_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.tmp{os.getpid()}")
    # not the URL: it may carry credentials
    tmp.write_text(json.dumps({"version": tag, "path": str(tree.root)}))
    tmp.replace(marker)
    return Fetched(tag, tree.root, checks)


def _default_marker() -> Path:
    return cache_dir("resource-customizations.json")
