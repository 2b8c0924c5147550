"""`kubectl gitops health`: the health of objects read from files or stdin, no cluster; and `health fetch`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kubectl_gitops import customizations, report, settings, yamlio
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK, GitopsError
from kubectl_gitops.health import HEALTHY, HealthChecker, app_health, is_health_ignored
from kubectl_gitops.model import Obj, key_of

Log = Callable[[str], None]


def run_health(files: Sequence[str], *, argocd_cm: str | None, resource_customizations: str | None,
               output: str) -> int:
    """Exit 0 when every object with a health check is Healthy, 1 otherwise (as an app's health)."""
    loaded = settings.from_file(argocd_cm) if argocd_cm else settings.Settings()
    checker = HealthChecker(customizations.with_bundled(loaded, resource_customizations).health)
    objects = list(_objects(files or ["-"]))
    if not objects:
        raise GitopsError(f"no Kubernetes objects in {', '.join(files) or 'stdin'}")
    results = [(obj, checker.check(obj)) for obj in objects]
    rows = []
    for obj, health in results:
        key = key_of(obj)
        rows.append({"apiVersion": obj.get("apiVersion", ""), "kind": key.kind, "namespace": key.namespace,
                     "name": key.name, "health": str(health.status) if health else None,
                     "message": health.message if health else None, "ignored": is_health_ignored(obj)})
    if output == "json":
        sys.stdout.write(report.to_json(rows))
    elif output == "yaml":
        sys.stdout.write(report.to_yaml(rows))
    else:
        sys.stdout.write(report.table(
            ["KIND", "NAMESPACE", "NAME", "HEALTH", "MESSAGE"],
            [[r["kind"], r["namespace"], r["name"], r["health"] or "(no health check)", r["message"] or ""]
             for r in rows]) + "\n")
    return EXIT_OK if app_health(results) == HEALTHY else EXIT_CHANGED


def run_fetch(version: str | None, url: str, log: Log) -> int:
    log(f"fetching {customizations.SUBDIR} of {url} at {version or 'the latest release'}")
    fetched = customizations.fetch(version, url)
    print(f"{fetched.version}: {fetched.checks} health checks in {fetched.path}")
    return EXIT_OK


def _objects(files: Sequence[str]) -> Iterator[Obj]:
    for name in files:
        source = "stdin" if name == "-" else name
        if name == "-" and sys.stdin.isatty():
            raise GitopsError("no FILE given and stdin is a terminal", hint="name a file, or pipe objects in")
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise GitopsError(f"{source}: cannot read: {err}") from None
        for doc in yamlio.load_all(text, source):
            yield from _flatten(doc, source)


def _flatten(doc: Any, source: str) -> Iterator[Obj]:
    """A document, or the items of a List (what `kubectl get -o yaml` prints)."""
    if doc is None:
        return
    if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
        raise GitopsError(f"{source}: not a Kubernetes object (needs apiVersion and kind)")
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _flatten(item, source)
        return
    yield doc
