"""`notify trigger run` and `notify template notify`: evaluate a trigger against an Application, or
render a template and send it, like `argocd admin notifications trigger run / template notify`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubectl_gitops import report, yamlio
from kubectl_gitops.errors import EXIT_CHANGED, EXIT_OK, GitopsError
from kubectl_gitops.notify.config import NotifyConfig, mask
from kubectl_gitops.notify.loading import ConfigSource, load_application, load_config
from kubectl_gitops.notify.notifier import deliver
from kubectl_gitops.notify.services import Sender
from kubectl_gitops.notify.subscriptions import Destination
from kubectl_gitops.notify.templates import Templates, variables
from kubectl_gitops.notify.triggers import run_trigger

if TYPE_CHECKING:
    from kubectl_gitops.cluster import Client, KubeOptions

Log = Callable[[str], None]
TRIGGER_HEADERS = ("CONDITION", "WHEN", "ONCEPER", "RESULT")


def _connect(kube: KubeOptions) -> Callable[[], Client]:
    cache: list[Client] = []

    def client() -> Client:
        if not cache:
            from kubectl_gitops.cluster import connect

            cache.append(connect(kube))
        return cache[0]

    return client


def _config(src: ConfigSource, client: Callable[[], Client]) -> NotifyConfig:
    cfg = load_config(src, client() if src.needs_cluster else None)
    if cfg is None:
        raise GitopsError(f"ConfigMap {src.namespace}/argocd-notifications-cm not found",
                          hint="give --notifications-cm FILE, or --config-namespace")
    return cfg


def run_trigger_cmd(*, trigger: str, app_ref: str, src: ConfigSource, app_namespace: str | None, output: str,
                    kube: KubeOptions, log: Log) -> int:
    client = _connect(kube)
    cfg = _config(src, client)
    app = load_application(app_ref, client, app_namespace or src.namespace)
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
                        app_namespace: str | None, output: str, kube: KubeOptions, log: Log) -> int:
    dests = [parse_recipient(r) for r in recipients]
    client = _connect(kube)
    cfg = _config(src, client)
    app = load_application(app_ref, client, app_namespace or src.namespace)
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
