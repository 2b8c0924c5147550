"""kubectl gitops notify trigger run / template notify"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions

from kubectl_gitops.cli.options import (
    cluster_options,
    kube_options,
    notification_file_options,
    output_option,
    progress,
)

CTX = {"help_option_names": ["-h", "--help"]}
F = Callable[..., Any]


def config_options(f: F) -> F:
    f = click.option("--config-namespace", default="argocd", show_default=True,
                     help="Namespace of argocd-notifications-cm and argocd-notifications-secret, and of the "
                     "app records (on each cluster).")(f)
    return notification_file_options(f)


def app_namespace(f: F) -> F:
    """kube_options' -n, which here is where APP is looked up when it names an Application."""
    for param in getattr(f, "__click_params__", []):
        if param.name == "namespace":
            param.help = "Namespace of the Application when APP is a name (default: --config-namespace)."
    return f


@click.group(context_settings=CTX)
def notify() -> None:
    """Argo CD notifications: evaluate triggers and send templates.

    Settings are argocd-notifications-cm and argocd-notifications-secret, unchanged (services,
    triggers, templates, subscriptions, defaultTriggers, context), from the config namespace of the
    current cluster or from files. APP is an Application YAML file with its status (or - for stdin),
    or an app's name: the app as its record shows it (as `list -o yaml` does), read in
    --config-namespace where sync keeps it, on the app's destination cluster: when APP names an
    Application in ./apps, that destination is resolved as for `kubectl gitops sync` (--cluster,
    --clusters-file, --cluster-secrets); otherwise the record is looked for on the current cluster and
    on every cluster those flags name. An app with no record is the Application of that name in the
    current cluster (with Argo CD's CRD; in -n NAMESPACE, default --config-namespace).
    `kubectl gitops sync` sends what the subscribed triggers say after each sync.
    """


@notify.group(context_settings=CTX)
def trigger() -> None:
    """Evaluate notification triggers."""


@notify.group(context_settings=CTX)
def template() -> None:
    """Render and send notification templates."""


@trigger.command("run", context_settings=CTX)
@click.argument("trigger_name", metavar="TRIGGER")
@click.argument("app", metavar="APP")
@config_options
@output_option(["table", "json", "yaml"], "table")
@app_namespace
@cluster_options
@kube_options
def trigger_run(trigger_name: str, app: str, notifications_cm: str | None, notifications_secret: str | None,
                config_namespace: str, output: str, kube: KubeOptions, clusters: FleetOptions) -> int:
    """Evaluate TRIGGER's conditions against APP and show each result.

    A condition that cannot be evaluated, or that returns no boolean, shows the error and would not
    fire. Exit status: 0 evaluated, 2 bad input (a syntax error names the trigger and column).
    """
    from kubectl_gitops.notify.loading import ConfigSource
    from kubectl_gitops.notify.usecases import run_trigger_cmd

    return run_trigger_cmd(trigger=trigger_name, app_ref=app, src=ConfigSource(
        notifications_cm, notifications_secret, config_namespace), app_namespace=kube.namespace, output=output,
        kube=kube, log=progress, clusters=clusters)


@template.command("notify", context_settings=CTX)
@click.argument("template_name", metavar="TEMPLATE")
@click.argument("app", metavar="APP")
@click.option("--recipient", "recipients", multiple=True, metavar="SERVICE:DEST",
              help="Send to this service and recipient, e.g. slack:my-channel (repeatable). Without it the "
              "rendered notification is printed instead.")
@config_options
@output_option(["table", "json", "yaml"], "table")
@app_namespace
@cluster_options
@kube_options
def template_notify(template_name: str, app: str, recipients: tuple[str, ...], notifications_cm: str | None,
                    notifications_secret: str | None, config_namespace: str, output: str,
                    kube: KubeOptions, clusters: FleetOptions) -> int:
    """Render TEMPLATE for APP and send it to each --recipient.

    Exit status: 0 sent (or rendered), 1 a delivery failed, 2 bad input.
    """
    from kubectl_gitops.notify.loading import ConfigSource
    from kubectl_gitops.notify.usecases import run_template_notify

    return run_template_notify(template=template_name, app_ref=app, recipients=recipients, src=ConfigSource(
        notifications_cm, notifications_secret, config_namespace), app_namespace=kube.namespace, output=output,
        kube=kube, log=progress, clusters=clusters)
