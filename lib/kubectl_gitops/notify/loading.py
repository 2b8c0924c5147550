"""Reading the notifications settings and Application documents: from files, or from the cluster's
config namespace through cluster.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ARGO_GROUP, Obj
from kubectl_gitops.notify import CM_NAME, SECRET_NAME

if TYPE_CHECKING:
    from kubectl_gitops.cluster import Client
    from kubectl_gitops.notify.config import NotifyConfig


@dataclass(frozen=True)
class ConfigSource:
    """Where the settings come from: files (--notifications-cm/-secret) or the config namespace."""

    cm_file: str | None = None
    secret_file: str | None = None
    namespace: str = "argocd"

    @property
    def needs_cluster(self) -> bool:
        return self.cm_file is None


def _read_doc(path: str, kind: str) -> Obj:
    try:
        text = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise GitopsError(f"{path}: cannot read: {e.strerror}") from None
    doc = yamlio.load(text, path)
    if not isinstance(doc, dict) or doc.get("kind") != kind:
        raise GitopsError(f"{path}: expected a {kind}, found {doc.get('kind') if isinstance(doc, dict) else doc!r}")
    return doc


def load_config(src: ConfigSource, client: Client | None) -> NotifyConfig | None:
    """The settings, or None when the cluster has no argocd-notifications-cm (nothing to send)."""
    cm: Obj | None
    if src.cm_file is not None:
        cm, where = _read_doc(src.cm_file, "ConfigMap"), src.cm_file
        secret = _read_doc(src.secret_file, "Secret") if src.secret_file else None
    else:
        assert client is not None
        cm, where = get_optional(client, "", "ConfigMap", src.namespace, CM_NAME), f"{src.namespace}/{CM_NAME}"
        if cm is None:
            return None
        secret = _read_doc(src.secret_file, "Secret") if src.secret_file else get_optional(
            client, "", "Secret", src.namespace, SECRET_NAME)
    from kubectl_gitops.notify.config import parse_config  # only with settings to parse: most syncs have none

    return parse_config(cm, secret, where)


def get_optional(client: Client, group: str, kind: str, namespace: str, name: str) -> Obj | None:
    """The object, or None when it is missing, its kind is unknown or we may not read it."""
    from kubectl_gitops.cluster import ApiError

    res = client.resource_for(group, kind)
    try:
        return client.get(res, namespace, name) if res else None
    except ApiError as e:
        if e.status != 403:
            raise
        return None


def application_file(ref: str) -> Obj | None:
    """The Application document (with its status) of a YAML/JSON file, or of stdin for `-`; None
    when REF is a name."""
    if ref == "-" or Path(ref).exists():
        return _read_doc(ref, "Application")
    if "/" in ref or ref.endswith((".yaml", ".yml", ".json")):
        raise GitopsError(f"{ref}: no such file")
    return None


def application_object(client: Client, namespace: str, name: str) -> Obj | None:
    """The argoproj.io Application `name` in `namespace`, when the cluster has Argo CD's CRD and it."""
    res = client.resource_for(ARGO_GROUP, "Application")
    return client.get(res, namespace, name) if res else None
