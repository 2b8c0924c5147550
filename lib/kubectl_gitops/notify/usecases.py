"""`notify trigger run` and `notify template notify`: evaluate a trigger against an Application, or
render a template and send it, like `argocd admin notifications trigger run / template notify`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubectl_gitops import report, yamlio
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK, GitopsError
from kubectl_gitops.model import Obj
from kubectl_gitops.notify.config import NotifyConfig, mask
from kubectl_gitops.notify.loading import ConfigSource, application_file, application_object, load_config
from kubectl_gitops.notify.notifier import deliver
from kubectl_gitops.notify.services import Sender
from kubectl_gitops.notify.subscriptions import Destination
from kubectl_gitops.notify.templates import Templates, variables
from kubectl_gitops.notify.triggers import run_trigger

if TYPE_CHECKING:
    from kubectl_gitops.cluster import KubeOptions
    from kubectl_gitops.fleet import Fleet, FleetOptions

Log = Callable[[str], None]
TRIGGER_HEADERS = ("CONDITION", "WHEN", "ONCEPER", "RESULT")


def _connect(kube: KubeOptions, clusters: FleetOptions | None, namespace: str) -> Callable[[], Fleet]:
    """The run's clusters, connected on first use: a file APP with --notifications-cm needs none."""
    cache: list[Fleet] = []

    def fleet() -> Fleet:
        if not cache:
            from kubectl_gitops.fleet import Fleet, FleetOptions

            cache.append(Fleet.connect(kube, replace(clusters or FleetOptions(), config_namespace=namespace)))
        return cache[0]

    return fleet


def _config(src: ConfigSource, fleet: Callable[[], Fleet]) -> NotifyConfig:
    cfg = load_config(src, fleet().management if src.needs_cluster else None)
    if cfg is None:
        raise GitopsError(f"ConfigMap {src.namespace}/argocd-notifications-cm not found",
                          hint="give --notifications-cm FILE, or --config-namespace")
    return cfg


def _application(ref: str, fleet: Callable[[], Fleet], namespace: str, records: str, log: Log) -> Obj:
    """APP as triggers and templates see it: a file as written; a name, as its record shows it where
    sync keeps it (on the app's destination cluster, see record_store.find_records), else the
    Application object of that name on the current cluster (with Argo CD's CRD)."""
    doc = application_file(ref)
    if doc is not None:
        return doc
    from kubectl_gitops.record import application_document
    from kubectl_gitops.record_store import find_records

    found = find_records(fleet(), records, ref)
    if found.records:
        target, record = found.one(records)
        log(f"app {found.name}: its record in namespace {records} of cluster {target.label}")
        return application_document(record, records, found.here.manifest if found.here else None)
    obj = application_object(fleet().management, namespace, ref)
    if obj is None:
        raise GitopsError(f"app {ref}: no record in namespace {records} of cluster "
                          f"{', '.join(t.label for t in found.looked)}, and no Application {namespace}/{ref} "
                          f"on cluster {fleet().inventory.current}",
                          hint="give an Application YAML file (or - for stdin), or --cluster NAME=CONTEXT to "
                               "look on another cluster too")
    return obj


def run_trigger_cmd(*, trigger: str, app_ref: str, src: ConfigSource, app_namespace: str | None, output: str,
                    kube: KubeOptions, log: Log, clusters: FleetOptions | None = None) -> int:
    fleet = _connect(kube, clusters, src.namespace)
    cfg = _config(src, fleet)
    app = _application(app_ref, fleet, app_namespace or src.namespace, src.namespace, log)
    results = run_trigger(cfg, trigger, variables(cfg, app, None), log)
    conditions = cfg.triggers[trigger]
    secrets = cfg.secret_values()
    rows = [[f"[{i}]", c.when, r.once_per, mask(f"error: {r.error}" if r.error else str(r.triggered).lower(),
                                                secrets)]
            for i, (c, r) in enumerate(zip(conditions, results, strict=True))]
    if output == "table":
        sys.stdout.write(report.table(TRIGGER_HEADERS, rows) + "\n")
    else:
        doc = {"trigger": trigger, "conditions": [
            {"condition": i, "when": c.when, "oncePer": r.once_per, "triggered": r.triggered,
             "templates": list(r.templates), **({"error": mask(r.error, secrets)} if r.error else {})}
            for i, (c, r) in enumerate(zip(conditions, results, strict=True))]}
        sys.stdout.write(report.to_json(doc) if output == "json" else report.to_yaml(doc))
    return EXIT_OK


def parse_recipient(text: str) -> Destination:
    service, sep, recipient = text.partition(":")
    if not sep or not service:
        raise GitopsError(f"--recipient {text!r}: expected SERVICE:DESTINATION (e.g. slack:my-channel)")
    return Destination(service, recipient)


def run_template_notify(*, template: str, app_ref: str, recipients: tuple[str, ...], src: ConfigSource,
                        app_namespace: str | None, output: str, kube: KubeOptions, log: Log,
                        clusters: FleetOptions | None = None) -> int:
    dests = [parse_recipient(r) for r in recipients]
    fleet = _connect(kube, clusters, src.namespace)
    cfg = _config(src, fleet)
    app = _application(app_ref, fleet, app_namespace or src.namespace, src.namespace, log)
    templates = Templates(cfg)
    secrets = cfg.secret_values()
    if not dests:
        # Nothing to send to: show the rendering (masked), as a preview.
        n = templates.render([template], variables(cfg, app, None))
        text = report.to_json(n.document()) if output == "json" else _yaml_literal(n.document())
        sys.stdout.write(mask(text, secrets))
        return EXIT_OK
    sender = Sender(secrets)
    results = [deliver(cfg, templates, sender, app, None, d, (template,), "", log) for d in dests]
    rows = [[str(d.destination), "sent" if d.ok else "failed", d.detail] for d in results]
    if output == "table":
        sys.stdout.write(report.table(("RECIPIENT", "RESULT", "DETAIL"), rows) + "\n")
    else:
        doc = {"deliveries": [dict(zip(("recipient", "result", "detail"), r, strict=True)) for r in rows]}
        sys.stdout.write(report.to_json(doc) if output == "json" else report.to_yaml(doc))
    return EXIT_OK if all(d.ok for d in results) else EXIT_CHANGED


def _yaml_literal(doc: object) -> str:
    """YAML with multi-line strings as literal blocks, so a rendered message reads as it will arrive."""
    import yaml

    class Dumper(yamlio.Dumper):
        pass

    def text(dumper: Any, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(doc, Dumper=Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True)
