"""One schema for Argo CD's Application and AppProject documents, and the one check every reader uses.

The schema is data: every field Argo CD defines (argo-cd pkg/apis/application/v1alpha1, types.go and
app_project_types.go) with its type, so a wrong type, an unknown field and a field this tool does not
honour yet each get the same kind of message naming the field's path, exit 2. A field marked
`later(...)` is refused by name when given (a value other than null, {} or []) rather than ignored; the
code that starts honouring one removes its `later`.

Pure: no I/O, nothing of ours but the error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_gitops.errors import GitopsError


@dataclass(frozen=True)
class Spec:
    """What one field may hold. `fields` closes an object to the names it lists; `values` instead
    allows any key with values of that spec (a string map)."""

    type: str  # string | integer | boolean | int-or-string | object | list | any
    fields: Mapping[str, Spec] = field(default_factory=dict)
    values: Spec | None = None
    items: Spec | None = None
    honoured: bool = True


STR, INT, BOOL = Spec("string"), Spec("integer"), Spec("boolean")
INT_OR_STR, ANY = Spec("int-or-string"), Spec("any")
STR_MAP = Spec("object", values=STR)
STR_LIST = Spec("list", items=STR)


def obj(**fields: Spec) -> Spec:
    return Spec("object", fields=fields)


def lst(items: Spec) -> Spec:
    return Spec("list", items=items)


def later(spec: Spec) -> Spec:
    """A field Argo CD defines that this tool does not honour yet: refused when given."""
    return replace(spec, honoured=False)


# ObjectMeta as the API server defines it; the server checks the rest of what it holds.
METADATA = obj(
    name=STR, generateName=STR, namespace=STR, labels=STR_MAP, annotations=STR_MAP, finalizers=STR_LIST,
    uid=ANY, resourceVersion=ANY, generation=ANY, creationTimestamp=ANY, deletionTimestamp=ANY,
    deletionGracePeriodSeconds=ANY, ownerReferences=ANY, managedFields=ANY, selfLink=ANY,
)

_NAME_VALUE = obj(name=STR, value=STR)
_JSONNET_VAR = obj(name=STR, value=STR, code=BOOL)
_GROUP_KIND = obj(group=STR, kind=STR)

HELM = obj(
    valueFiles=STR_LIST, parameters=lst(obj(name=STR, value=STR, forceString=BOOL)),
    releaseName=STR, values=STR, fileParameters=lst(obj(name=STR, path=STR)),
    version=STR, passCredentials=BOOL, ignoreMissingValueFiles=BOOL,
    skipCrds=BOOL, valuesObject=ANY, namespace=STR, kubeVersion=STR,
    apiVersions=STR_LIST, skipTests=BOOL, skipSchemaValidation=BOOL,
)
KUSTOMIZE = obj(
    namePrefix=STR, nameSuffix=STR, images=STR_LIST, commonLabels=STR_MAP,
    version=STR, commonAnnotations=STR_MAP, forceCommonLabels=BOOL,
    forceCommonAnnotations=BOOL, namespace=STR, commonAnnotationsEnvsubst=BOOL,
    replicas=lst(obj(name=STR, count=INT_OR_STR)),
    patches=lst(obj(path=STR, patch=STR, options=Spec("object", values=BOOL), target=obj(
        group=STR, version=STR, kind=STR, name=STR, namespace=STR, labelSelector=STR,
        annotationSelector=STR))),
    components=STR_LIST, ignoreMissingComponents=BOOL, labelWithoutSelector=BOOL,
    labelIncludeTemplates=BOOL, kubeVersion=STR, apiVersions=STR_LIST,
)
DIRECTORY = obj(
    recurse=BOOL, include=STR, exclude=STR,
    jsonnet=obj(extVars=lst(_JSONNET_VAR), tlas=lst(_JSONNET_VAR), libs=STR_LIST),
)
PLUGIN = obj(
    name=later(STR), env=later(lst(_NAME_VALUE)),
    parameters=later(lst(obj(name=STR, string=STR, map=STR_MAP, array=STR_LIST))),
)
SOURCE = obj(
    repoURL=STR, path=STR, targetRevision=STR, helm=HELM, kustomize=KUSTOMIZE, directory=DIRECTORY,
    plugin=PLUGIN, chart=STR, ref=STR, name=STR,
)
IGNORE_RULE = obj(group=STR, kind=STR, name=STR, namespace=STR, jsonPointers=STR_LIST,
                  jqPathExpressions=STR_LIST, managedFieldsManagers=STR_LIST)
SYNC_POLICY = obj(
    automated=obj(prune=BOOL, selfHeal=BOOL, allowEmpty=BOOL, enabled=BOOL),
    syncOptions=STR_LIST,
    retry=obj(limit=INT, refresh=later(BOOL), backoff=obj(duration=STR, factor=INT, maxDuration=STR)),
    managedNamespaceMetadata=obj(labels=STR_MAP, annotations=STR_MAP),
)
APPLICATION_SPEC = obj(
    source=SOURCE,
    sources=lst(SOURCE),
    sourceHydrator=later(obj(drySource=obj(repoURL=STR, targetRevision=STR, path=STR),
                             syncSource=obj(targetBranch=STR, path=STR), hydrateTo=obj(targetBranch=STR))),
    destination=obj(server=STR, name=STR, namespace=STR),  # resolved to a cluster by destinations.py
    project=STR,
    syncPolicy=SYNC_POLICY,
    ignoreDifferences=lst(IGNORE_RULE),
    info=later(lst(_NAME_VALUE)),
    revisionHistoryLimit=later(INT),
)
APPLICATION = obj(apiVersion=STR, kind=STR, metadata=METADATA, spec=APPLICATION_SPEC,
                  operation=later(ANY), status=ANY)  # status is the controller's; Argo CD ignores it too

# AppProject: applied as an object. Which of its rules are enforced is the projects code's to mark.
_RESTRICTION = obj(group=STR, kind=STR, name=STR)
APP_PROJECT_SPEC = obj(
    description=STR, sourceRepos=STR_LIST, sourceNamespaces=STR_LIST,
    destinations=lst(obj(server=STR, name=STR, namespace=STR)),
    clusterResourceWhitelist=lst(_RESTRICTION), clusterResourceBlacklist=lst(_RESTRICTION),
    namespaceResourceWhitelist=lst(_GROUP_KIND), namespaceResourceBlacklist=lst(_GROUP_KIND),
    roles=lst(obj(name=STR, description=STR, policies=STR_LIST, groups=STR_LIST,
                  jwtTokens=lst(obj(iat=INT, exp=INT, id=STR)))),
    orphanedResources=obj(warn=BOOL, ignore=lst(obj(group=STR, kind=STR, name=STR))),
    syncWindows=lst(obj(kind=STR, schedule=STR, duration=STR, applications=STR_LIST, namespaces=STR_LIST,
                        clusters=STR_LIST, manualSync=BOOL, timeZone=STR, andOperator=BOOL,
                        description=STR, syncOverrun=BOOL)),
    signatureKeys=lst(obj(keyID=STR)),
    permitOnlyProjectScopedClusters=BOOL,
    destinationServiceAccounts=lst(obj(server=STR, namespace=STR, defaultServiceAccount=STR)),
)
APP_PROJECT = obj(apiVersion=STR, kind=STR, metadata=METADATA, spec=APP_PROJECT_SPEC, status=ANY)

SCHEMAS = {"Application": APPLICATION, "AppProject": APP_PROJECT}


def check_argo_document(doc: Mapping[str, Any], where: str) -> None:
    """Check an argoproj.io Application or AppProject (by its kind) against its schema.

    `where` names the file (and object) in the message. Raises GitopsError (exit 2) naming the first
    field, in document order, that has the wrong type, is unknown, or is not honoured yet.
    """
    schema = SCHEMAS.get(str(doc.get("kind")))
    if schema is None:
        raise GitopsError(f"{where}: {doc.get('kind')!r} is not an Argo CD kind this tool reads")
    check(doc, schema, where)


def check(value: Any, spec: Spec, where: str, path: str = "") -> None:
    """`value` against `spec`; `path` is where `value` sits in the document (e.g. "spec.source")."""
    if value is None:
        return  # null is "not given", as Go's JSON decoding reads it
    if not spec.honoured and value not in ({}, []):
        raise GitopsError(f"{where}: {path} is not supported by kubectl-gitops yet; refused rather than "
                          "ignored", hint=f"remove {path}, or use Argo CD for this Application")
    expected = _TYPES.get(spec.type)
    if expected is not None and not expected(value):
        raise GitopsError(f"{where}: {path or 'the document'} must be {_ARTICLE[spec.type]}, not "
                          f"{_describe(value)}", hint=_hint(spec, value))
    if spec.type == "object":
        if spec.values is STR and all(type(v) is str for v in value.values()):
            return  # labels, annotations: the common case in one pass
        for key, item in value.items():
            sub = spec.fields.get(key) if spec.fields else spec.values
            if sub is STR and type(item) is str:
                continue  # most fields of most documents (labels, annotations): no call, no path
            sub_path = f"{path}.{key}" if path else str(key)
            if sub is None:
                known = ", ".join(spec.fields) if spec.fields else "none"
                raise GitopsError(f"{where}: {sub_path}: unknown field", hint=f"known fields here: {known}")
            check(item, sub, where, sub_path)
    elif spec.type == "list" and spec.items is not None:
        for i, item in enumerate(value):
            check(item, spec.items, where, f"{path}[{i}]")


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "int-or-string": lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
    "object": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}
_ARTICLE = {"string": "a string", "integer": "an integer", "boolean": "true or false",
            "int-or-string": "an integer or a string", "object": "a mapping", "list": "a list"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "a mapping"}
    return names.get(type(value), f"a YAML {type(value).__name__}")


def _hint(spec: Spec, value: Any) -> str | None:
    if spec.type == "string" and isinstance(value, bool | int | float):
        return "quote it in the YAML"
    return None
