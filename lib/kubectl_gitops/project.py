"""AppProjects: who may deploy what, where (and, through syncWindows, when). Pure: parsing and the
permission checks of Argo CD's app_project_types.go; each check returns violations as messages.

- sourceRepos: URLs normalised as Argo CD's git.NormalizeGitURL, matched as gobwas globs with `/`
  as separator; a `!` pattern that matches the repo rejects it; `!*` is invalid. As in Argo CD's
  code (its docs say otherwise), a `!` pattern that does not match counts as a permitting match,
  so `[!a]` alone permits every repo but a.
- destinations: an entry matches when (server glob or name glob) and the namespace glob match; any
  field may be a `!` pattern, and a `!` pattern that excludes the destination rejects it outright.
- Resource kinds (group, kind; name for cluster-scoped kinds) are Go filepath.Match patterns. For
  namespaced kinds a missing whitelist permits all and an empty one none; for cluster-scoped kinds
  an empty or missing whitelist permits none. Blacklists are subtracted.
- The `default` project, when no manifest defines it, permits everything (as Argo CD creates it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.globs import go_path_match, gobwas_match
from kubectl_gitops.model import Obj
from kubectl_gitops.windows import SyncWindow, parse_window

DEFAULT_PROJECT = "default"
IN_CLUSTER_SERVER, IN_CLUSTER_NAME = "https://kubernetes.default.svc", "in-cluster"
# Fields of AppProject.spec we honour. roles (Argo CD API RBAC) and orphanedResources (UI warnings)
# concern Argo CD's server only: here the kubeconfig's RBAC applies. Policies we cannot enforce stop
# the run when set (UNSUPPORTED), rather than pass unenforced.
POLICY_FIELDS = frozenset({"sourceRepos", "destinations", "clusterResourceWhitelist", "clusterResourceBlacklist",
                           "namespaceResourceWhitelist", "namespaceResourceBlacklist", "sourceNamespaces",
                           "syncWindows", "description"})
NOT_OURS = frozenset({"roles", "orphanedResources"})
UNSUPPORTED = {"signatureKeys": "commit signature verification",
               "destinationServiceAccounts": "impersonating a service account per destination",
               "permitOnlyProjectScopedClusters": "project-scoped cluster Secrets"}


@dataclass(frozen=True)
class Destination:
    server: str = ""
    name: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class KindRule:
    group: str
    kind: str
    name: str = ""  # cluster-scoped lists only; empty matches every name

    def matches(self, group: str, kind: str, name: str) -> bool:
        return (go_path_match(self.kind, kind) and go_path_match(self.group, group)
                and (not self.name or go_path_match(self.name, name)))


@dataclass(frozen=True)
class Project:
    name: str
    origin: str = ""  # where it was defined, for messages
    source_repos: tuple[str, ...] = ()
    destinations: tuple[Destination, ...] = ()
    cluster_whitelist: tuple[KindRule, ...] = ()
    cluster_blacklist: tuple[KindRule, ...] = ()
    namespace_whitelist: tuple[KindRule, ...] | None = None  # None: the field is missing
    namespace_blacklist: tuple[KindRule, ...] = ()
    source_namespaces: tuple[str, ...] = ()
    windows: tuple[SyncWindow, ...] = field(default=())

    @property
    def warnings(self) -> list[str]:
        return [w.warning for w in self.windows if w.warning]


def implicit_default() -> Project:
    """Argo CD's `default` project as it creates it: any repo, any destination, any kind. Applications
    may live in any namespace too: here no controller restricts where they are read from."""
    return Project(name=DEFAULT_PROJECT, origin="the built-in default project", source_repos=("*",),
                   destinations=(Destination(server="*", name="*", namespace="*"),),
                   cluster_whitelist=(KindRule("*", "*"),), source_namespaces=("*",))


# -- parsing --------------------------------------------------------------------------------------

def parse_project(obj: Obj, origin: str) -> Project:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise GitopsError(f"{origin}: AppProject without metadata.name")
    where = f"{origin}: AppProject {name}"
    spec = obj.get("spec") if obj.get("spec") is not None else {}
    if not isinstance(spec, dict):
        raise GitopsError(f"{where}: spec must be a mapping")
    for key, what in UNSUPPORTED.items():
        if spec.get(key):
            raise GitopsError(f"{where}: spec.{key} is not supported ({what} is not implemented)",
                              hint="remove the field, or sync this project with Argo CD itself")
    unknown = sorted(set(spec) - POLICY_FIELDS - NOT_OURS - set(UNSUPPORTED))
    if unknown:
        raise GitopsError(f"{where}: unknown field spec.{unknown[0]}",
                          hint=f"AppProject spec fields: {', '.join(sorted(POLICY_FIELDS | NOT_OURS))}")
    repos = _strings(spec, "sourceRepos", where)
    for r in repos:
        if r == "!*":
            raise GitopsError(f"{where}: spec.sourceRepos: source repository has an invalid format, '!*'")
    return Project(
        name=name, origin=origin, source_repos=repos,
        destinations=tuple(_destination(d, f"{where}: spec.destinations[{i}]")
                           for i, d in enumerate(_list(spec, "destinations", where))),
        cluster_whitelist=_kinds(spec, "clusterResourceWhitelist", where, named=True) or (),
        cluster_blacklist=_kinds(spec, "clusterResourceBlacklist", where, named=True) or (),
        namespace_whitelist=_kinds(spec, "namespaceResourceWhitelist", where, named=False),
        namespace_blacklist=_kinds(spec, "namespaceResourceBlacklist", where, named=False) or (),
        source_namespaces=_strings(spec, "sourceNamespaces", where),
        windows=tuple(parse_window(w, project=name, index=i, where=where)
                      for i, w in enumerate(_list(spec, "syncWindows", where))),
    )


def _list(spec: Obj, key: str, where: str) -> list[object]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise GitopsError(f"{where}: spec.{key} must be a list, not {type(value).__name__}")
    return value


def _strings(spec: Obj, key: str, where: str) -> tuple[str, ...]:
    items = _list(spec, key, where)
    for i, v in enumerate(items):
        if not isinstance(v, str):
            raise GitopsError(f"{where}: spec.{key}[{i}] must be a string, not {type(v).__name__}")
    return tuple(str(v) for v in items)


def _field(d: Obj, key: str, at: str) -> str:
    value = d.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GitopsError(f"{at}.{key} must be a string, not {type(value).__name__}")
    return value


def _destination(d: object, at: str) -> Destination:
    if not isinstance(d, dict):
        raise GitopsError(f"{at} must be a mapping")
    dest = Destination(server=_field(d, "server", at), name=_field(d, "name", at),
                       namespace=_field(d, "namespace", at))
    for key in ("server", "name", "namespace"):
        if getattr(dest, key) == "!*":
            raise GitopsError(f"{at}.{key} has an invalid format, '!*'")
    return dest


def _kinds(spec: Obj, key: str, where: str, *, named: bool) -> tuple[KindRule, ...] | None:
    if key not in spec or spec[key] is None:
        return None
    rules = []
    for i, item in enumerate(_list(spec, key, where)):
        at = f"{where}: spec.{key}[{i}]"
        if not isinstance(item, dict):
            raise GitopsError(f"{at} must be a mapping with group and kind")
        if not named and item.get("name"):
            raise GitopsError(f"{at}.name: only cluster-scoped lists match by name")
        rules.append(KindRule(group=_field(item, "group", at), kind=_field(item, "kind", at),
                              name=_field(item, "name", at)))
    return tuple(rules)


# -- checks ---------------------------------------------------------------------------------------

_SSH = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


def normalize_repo_url(url: str) -> str:
    """git.NormalizeGitURL: lower case, `user@host:path` as `user@host/path`, no `.git`, no `ssh://`."""
    repo = url.strip().lower()
    if _SSH.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    repo = repo.removesuffix(".git")
    return repo.removeprefix("ssh://")


def _glob(pattern: str, value: str, separators: str = "") -> bool:
    """Argo CD's globMatch with negation allowed: `!p` is true when p does not match."""
    if pattern.startswith("!"):
        return not gobwas_match(pattern[1:], value, separators)
    return pattern == "*" or gobwas_match(pattern, value, separators)


def source_permitted(project: Project, repo_url: str) -> bool:
    src = normalize_repo_url(repo_url)
    matched = False
    for pattern in project.source_repos:
        deny = pattern.startswith("!")
        normalized = ("!" + normalize_repo_url(pattern[1:])) if deny else normalize_repo_url(pattern)
        if _glob(normalized, src, "/"):
            matched = True
        elif deny:
            return False
    return matched


def destination_permitted(project: Project, dest: Destination) -> bool:
    any_match, no_deny = False, True
    for item in project.destinations:
        name_ok = bool(dest.name) and _glob(item.name, dest.name)
        server_ok = bool(dest.server) and _glob(item.server, dest.server)
        ns_ok = _glob(item.namespace, dest.namespace)
        if (server_ok or name_ok) and ns_ok:
            any_match = True
        elif ((not name_ok and item.name.startswith("!")) or (not server_ok and item.server.startswith("!"))
              or (not ns_ok and item.namespace.startswith("!"))):
            no_deny = False
    return any_match and no_deny


def kind_permitted(project: Project, group: str, kind: str, name: str, *, namespaced: bool) -> bool:
    if namespaced:
        white = project.namespace_whitelist
        listed = white is None or any(r.matches(group, kind, "") for r in white)
        return listed and not any(r.matches(group, kind, "") for r in project.namespace_blacklist)
    listed = any(r.matches(group, kind, name) for r in project.cluster_whitelist)
    return listed and not any(r.matches(group, kind, name) for r in project.cluster_blacklist)


def app_namespace_permitted(project: Project, app_namespace: str, control_namespace: str) -> bool:
    """IsAppNamespacePermitted: Applications in the control namespace (or none) always are; others
    only in a namespace that sourceNamespaces names (glob, or /regexp/)."""
    if not app_namespace or app_namespace == control_namespace:
        return True
    for pattern in project.source_namespaces:
        if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
            try:
                if re.search(pattern[1:-1], app_namespace):
                    return True
            except re.error:
                pass
        elif pattern == "*" or gobwas_match(pattern, app_namespace):
            return True
    return False


def app_violations(project: Project, *, app: str, repo_urls: tuple[str, ...], dest: Destination,
                   app_namespace: str, control_namespace: str) -> list[str]:
    """Why Argo CD would refuse the whole app (its InvalidSpecError conditions)."""
    out = []
    if not app_namespace_permitted(project, app_namespace, control_namespace):
        out.append(f"application '{app}' in namespace '{app_namespace}' is not allowed to use project {project.name}")
    out.extend(f"application repo {url} is not permitted in project '{project.name}'"
               for url in repo_urls if not source_permitted(project, url))
    if not destination_permitted(project, dest):
        where = dest.server or dest.name
        out.append(f"application destination server '{where}' and namespace '{dest.namespace}' do not match any "
                   f"of the allowed destinations in project '{project.name}'")
    return out


def resource_violation(project: Project, *, group: str, kind: str, name: str, namespace: str,
                       dest: Destination) -> str | None:
    """Why one object may not be deployed (IsResourcePermitted), or None."""
    if not kind_permitted(project, group, kind, name, namespaced=bool(namespace)):
        return f"resource {group}:{kind} is not permitted in project {project.name}"
    if namespace and not destination_permitted(project, Destination(dest.server, dest.name, namespace)):
        return f"namespace {namespace} is not permitted in project {project.name}"
    return None


def app_destination(manifest: Obj | None, dest_namespace: str) -> Destination:
    """An Application's spec.destination, `in-cluster` standing for the API server it runs in.
    A plain directory (no Application) deploys in-cluster."""
    d = ((manifest or {}).get("spec") or {}).get("destination") or {}
    server = str(d.get("server") or "").rstrip("/")
    name = str(d.get("name") or "")
    if not server and not name:
        server, name = IN_CLUSTER_SERVER, IN_CLUSTER_NAME
    elif name == IN_CLUSTER_NAME and not server:
        server = IN_CLUSTER_SERVER
    return Destination(server=server, name=name, namespace=dest_namespace)
