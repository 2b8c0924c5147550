"""Options every command shares, defined once: kubectl's connection flags, -o, --color."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from kubectl_gitops.goduration import parse_go_duration

F = Callable[..., Any]


def kube_options(f: F) -> F:
    """kubectl's connection flags; the command gets them as `kube` (a KubeOptions)."""
    f = _to_kube_options(f)
    f = click.option("--request-timeout", type=Duration(), metavar="DURATION",
                     help="How long one request may wait for the server (e.g. 30s, 1m; 0: no limit). "
                     "Default: 60s, and never past the command's --timeout.")(f)
    f = click.option("--insecure-skip-tls-verify", is_flag=True, default=False,
                     help="Do not check the server's certificate (insecure).")(f)
    f = click.option("--certificate-authority", type=click.Path(dir_okay=False),
                     help="Path to a CA certificate file for the server's certificate.")(f)
    f = click.option("--token", help="Bearer token for the API server (replaces the kubeconfig user's).")(f)
    f = click.option("-s", "--server", help="The address and port of the Kubernetes API server.")(f)
    f = click.option("--as-uid", "as_uid", metavar="UID", help="UID to impersonate for the operation.")(f)
    f = click.option("--as-group", "as_groups", metavar="GROUP", multiple=True,
                     help="Group to impersonate for the operation; repeat for several.")(f)
    f = click.option("--as", "as_user", metavar="USER",
                     help="Username (or service account) to impersonate for the operation.")(f)
    f = click.option("-n", "--namespace", help="Namespace for objects that name none (default: the "
                     "Application's destination, else the context's).")(f)
    f = click.option("--context", help="kubeconfig context to use (default: current-context).")(f)
    f = click.option("--kubeconfig", type=click.Path(dir_okay=False),
                     help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config; without "
                     "one, the in-cluster service account).")(f)
    return f


def _to_kube_options(f: F) -> F:
    @functools.wraps(f)
    def wrapper(*, kubeconfig: str | None, context: str | None, namespace: str | None, as_user: str | None,
                as_groups: tuple[str, ...], as_uid: str | None, server: str | None, token: str | None,
                certificate_authority: str | None, insecure_skip_tls_verify: bool, request_timeout: float | None,
                **kwargs: Any) -> Any:
        from kubectl_gitops.kubeconfig import KubeOptions

        kube = KubeOptions(kubeconfig=kubeconfig, context=context, namespace=namespace, server=server, token=token,
                           certificate_authority=certificate_authority,
                           insecure_skip_tls_verify=insecure_skip_tls_verify, as_user=as_user, as_groups=as_groups,
                           as_uid=as_uid, request_timeout=request_timeout)
        return f(kube=kube, **kwargs)

    return wrapper


def cluster_options(f: F) -> F:
    """Where each Application's spec.destination goes; the command gets them as `clusters`."""

    @functools.wraps(f)
    def wrapper(*, cluster: tuple[str, ...], clusters_file: str | None, cluster_secrets: bool, **kwargs: Any) -> Any:
        from kubectl_gitops.fleet import FleetOptions

        return f(clusters=FleetOptions(cluster, clusters_file, cluster_secrets), **kwargs)

    g: F = wrapper
    g = click.option("--cluster-secrets", is_flag=True,
                     help="Also resolve destinations through Argo CD's cluster Secrets (label "
                     "argocd.argoproj.io/secret-type=cluster, in --config-namespace of the current cluster); "
                     "their credentials are used in memory only.")(g)
    g = click.option("--clusters-file", type=click.Path(exists=True, dir_okay=False),
                     help="YAML file `clusters: {NAME_OR_SERVER: CONTEXT}` mapping destinations to contexts.")(g)
    g = click.option("--cluster", multiple=True, metavar="NAME_OR_SERVER=CONTEXT",
                     help="Send Applications whose destination.name or .server is NAME_OR_SERVER to this "
                     "kubeconfig context; repeat for several.")(g)
    return g


def source_options(f: F) -> F:
    """TARGET and the flags that choose the desired state; the command gets them as `compare`."""
    f = _to_compare_options(f)
    f = click.option("--render-timeout", type=Duration(minimum=0.001), default="90s", show_default=True,
                     help="How long each renderer run (helm, kubectl kustomize) may take, like Argo CD's "
                     "exec timeout; a duration such as 30s or 2m.")(f)
    f = customizations_option(f)
    f = click.option("--projects", "projects_dir", type=click.Path(exists=True), metavar="DIR",
                     help="AppProject manifests (a directory of files, or one file) for projects that neither "
                     "the repository nor the cluster defines.")(f)
    f = click.option("--config-namespace", default="argocd", show_default=True,
                     help="Namespace of the argocd-cm ConfigMap (health checks, ignoreDifferences) and of "
                     "AppProject objects.")(f)
    f = click.option("--argocd-cm", "argocd_cm", type=click.Path(exists=True, dir_okay=False),
                     help="Read argocd-cm settings (ignoreDifferences, health checks) from this YAML file "
                     "instead of the cluster's argocd/argocd-cm ConfigMap.")(f)
    f = click.option("--recursive/--no-recursive", default=True, show_default=True,
                     help="Follow child Applications of an App of Apps.")(f)
    f = click.option("--revision", metavar="REV",
                     help="Read Git at this branch, tag or commit (no checkout) instead of the work tree.")(f)
    f = click.argument("target", default=".", required=False)(f)
    return f


def customizations_option(f: F) -> F:
    return click.option("--resource-customizations", "resource_customizations", metavar="DIR",
                        envvar="KUBECTL_GITOPS_RESOURCE_CUSTOMIZATIONS", show_envvar=True,
                        type=click.Path(exists=True, file_okay=False),
                        help="Argo CD's bundled health checks: a directory in the layout of argo-cd's "
                        "resource_customizations (<group>/<Kind>/health.lua, _ as a wildcard), used below "
                        "argocd-cm's checks (default: what `kubectl gitops health fetch` put in the cache).")(f)


def _to_compare_options(f: F) -> F:
    @functools.wraps(f)
    def wrapper(*, target: str, revision: str | None, recursive: bool, argocd_cm: str | None,
                config_namespace: str, projects_dir: str | None, resource_customizations: str | None,
                render_timeout: float, **kwargs: Any) -> Any:
        from kubectl_gitops.engine import CompareOptions

        return f(compare=CompareOptions(target=target, revision=revision, recursive=recursive, argocd_cm=argocd_cm,
                                        config_namespace=config_namespace, projects_dir=projects_dir,
                                        resource_customizations=resource_customizations,
                                        render_timeout=render_timeout), **kwargs)

    return wrapper


def sync_request_options(f: F) -> F:
    """The flags of a sync (sync, rollback); the command gets them as `req`, a SyncRequest."""

    @functools.wraps(f)
    def wrapper(*, dry_run: bool, prune: bool, force_prune: bool, confirm_prune: bool, wait: bool,
                timeout: float, lock_namespace: str, **kwargs: Any) -> Any:
        from kubectl_gitops.state import SyncRequest

        return f(req=SyncRequest(prune=prune, force_prune=force_prune, confirm_prune=confirm_prune,
                                 dry_run=dry_run, wait=wait, timeout=timeout, lock_namespace=lock_namespace),
                 **kwargs)

    g: F = wrapper
    g = click.option("--lock-namespace", default="default", show_default=True,
                     help="Namespace of the per-app Lease that keeps two syncs of one app apart.")(g)
    g = click.option("--timeout", type=Duration(minimum=1), default="5m", show_default=True,
                     help="How long the whole sync (applies and health waits) may take: a kubectl duration "
                     "(90s, 5m, 1h30m; a bare number is seconds).")(g)
    g = click.option("--wait", is_flag=True, help="Wait until every object is Healthy, even in a single-step "
                     "sync; exit 1 when one is Degraded or the timeout passes.")(g)
    g = click.option("--confirm-prune", is_flag=True, help="Confirm pruning objects marked Prune=confirm.")(g)
    g = click.option("--force-prune", is_flag=True, help="Prune even when the render is empty or more than "
                     "half of the app's objects would be deleted.")(g)
    g = click.option("--prune", is_flag=True, help="Delete objects of the app that Git no longer has "
                     "(also enabled by syncPolicy.automated.prune).")(g)
    g = click.option("--dry-run", is_flag=True, help="Validate everything and print the plan; write nothing.")(g)
    return g


def output_option(choices: list[str], default: str) -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format.")


def color_option(f: F) -> F:
    return click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
                        show_default=True, help="Color the output (NO_COLOR disables 'auto').")(f)


def use_color(choice: str, stream: Any = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return (stream or sys.stdout).isatty()


def progress(msg: str) -> None:
    """Progress and log lines go to stderr, so stdout stays the diff/report."""
    click.echo(msg, err=True)


def parse_duration(text: str) -> float:
    """Seconds in a kubectl (Go) duration: 90s, 5m, 1h30m, 1.5h, 250ms; a bare number is seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        if value[:1] in "+-":  # a timeout is never negative, and kubectl takes no sign
            raise ValueError(value)
        return parse_go_duration(value) / 1e9
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 5m, 1h30m; a bare number is seconds)") from None


class Duration(click.ParamType):
    """A --timeout style option: kubectl durations, converted to seconds (at least `minimum`)."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(str(value))
            except ValueError as e:
                self.fail(str(e), param, ctx)
        if seconds < self.minimum:
            self.fail(f"{value!r} is shorter than {self.minimum:g}s", param, ctx)
        return seconds


def notification_file_options(f: F) -> F:
    """sync's, watch's and notify's: the notification settings from files instead of the cluster."""
    f = click.option("--notifications-secret", type=click.Path(exists=True, dir_okay=False),
                     help="Read argocd-notifications-secret from this YAML file.")(f)
    f = click.option("--notifications-cm", type=click.Path(exists=True, dir_okay=False),
                     help="Read argocd-notifications-cm from this YAML file instead of the cluster "
                     "(the Secret then comes only from --notifications-secret).")(f)
    return f
