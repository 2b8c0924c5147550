"""Leaf module: the pipeline's data. What compare found (ResourceState, AppState), what sync plans
(SyncTask) and what a sync returns (SyncResult). Statuses are enums; no I/O, no decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kubectl_gitops.apps import App
from kubectl_gitops.errors import Halt
from kubectl_gitops.model import Manifest, Obj, ResourceKey, SyncOptions
from kubectl_gitops.project import Project


class SyncStatus(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    MISSING = "Missing"
    EXTRANEOUS = "Extraneous"
    UNKNOWN = "Unknown"  # not compared (e.g. a policy check did not let it be)


class HealthCode(StrEnum):
    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"


HEALTH_ORDER = tuple(HealthCode)  # best to worst


@dataclass(frozen=True)
class HealthStatus:
    status: HealthCode
    message: str = ""


class Phase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"

    @property
    def rank(self) -> int:
        return tuple(Phase).index(self) - 1


class TaskResult(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    PRUNE_SKIPPED = "pruneSkipped"
    HOOK_CREATED = "hook created"
    HOOK_RUNNING = "hook running"
    HOOK_SUCCEEDED = "hook succeeded"
    HOOK_FAILED = "hook failed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not reached: an earlier step failed


class OperationPhase(StrEnum):
    """A sync's phase, as Argo CD's operationState.phase."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"  # it wrote, then an apply, a health check or a hook failed
    ERROR = "Error"  # it stopped before writing: bad input, a refused pre-flight check, a held lock


# -- compare ----------------------------------------------------------------------------------------

@dataclass
class ResourceState:
    app: str
    key: ResourceKey
    status: SyncStatus
    origin: str = ""
    desired: Obj | None = None  # what sync would apply: namespace set, tracking id added
    live: Obj | None = None
    # Normalized, ignoreDifferences applied: what is compared and shown. None when the fast path
    # found the object synced (there is no diff to show).
    target_view: Obj | None = None
    live_view: Obj | None = None
    ignored_extraneous: bool = False
    pending_crd: bool = False  # its CRD comes in the same app, so the server cannot check it yet
    health: HealthStatus | None = None  # of the live object; None: no live object or no check
    exact: bool = False  # in sync even before ignoreDifferences: applying it would write nothing
    validated: bool = False  # passed the server-side dry-run sync's pre-flight check would send
    message: str = ""  # why it is Unknown (its project refuses it)

    @property
    def out_of_sync(self) -> bool:
        return self.status != SyncStatus.SYNCED and not self.ignored_extraneous


@dataclass
class AppState:
    app: App
    source_label: str
    revision: str | None = None  # the commit rendered (a work tree: the commit checked out; None: no git)
    resources: list[ResourceState] = field(default_factory=list)
    hooks: list[Manifest] = field(default_factory=list)
    children: list[App] = field(default_factory=list)
    health: HealthCode | None = None
    project: Project | None = None
    conditions: list[str] = field(default_factory=list)  # why its project refuses the whole app
    sync_window: str = ""  # why a sync window blocks a manual sync now (empty: it does not)
    cluster: str = ""  # the destination (a kubeconfig context or a cluster Secret's name)
    error: str = ""  # why it was not compared: its cluster did not answer

    @property
    def sync_status(self) -> SyncStatus:
        if self.conditions:
            return SyncStatus.UNKNOWN
        return SyncStatus.OUT_OF_SYNC if any(rs.out_of_sync for rs in self.resources) else SyncStatus.SYNCED


# -- plan and run -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncRequest:
    """What the user asked of a sync (the CLI flags), as plain data a watch loop can build too."""

    prune: bool = False
    force_prune: bool = False
    confirm_prune: bool = False
    dry_run: bool = False
    wait: bool = False  # wait until every object is Healthy, even in a single-step sync
    timeout: float = 300.0
    lock_namespace: str = "default"
    record_namespace: str = "argocd"  # where app records live (the config namespace)
    initiated_by: str = ""  # who the app records name ("" : user@host of this process)
    automated: bool = False  # an automated sync (the watch loop), not a user's
    rollback_of: int | None = None  # the history id a rollback returns to


@dataclass
class SyncTask:
    app: str
    key: ResourceKey
    phase: Phase
    wave: int
    obj: Obj | None  # what to apply (None for a prune)
    live: Obj | None = None
    origin: str = ""
    hook: bool = False
    delete_policies: frozenset[str] = frozenset()
    options: SyncOptions = field(default_factory=SyncOptions)
    prune: bool = False
    skip_apply: bool = False  # already in sync: nothing to write
    prune_skipped: str = ""  # a prune candidate left alone: why (Prune=false, pruning disabled...)
    # outcome, filled in by the runner
    result: TaskResult | None = None
    health: HealthCode | None = None
    message: str = ""


@dataclass
class AppSyncResult:
    """One app's sync: what notifications, history and a watch loop read."""

    app: str
    source: str  # where it was rendered from ("work tree", "rev abc1234", a repository URL)
    revision: str | None
    started_at: datetime
    cluster: str = ""
    finished_at: datetime | None = None
    phase: OperationPhase = OperationPhase.RUNNING
    tasks: list[SyncTask] = field(default_factory=list)
    health: HealthCode | None = None
    message: str = ""
    stopped: Halt | None = None  # a signal or a lost lease ended it: `tasks` holds only what was done
    unreachable: bool = False  # it failed because its cluster stopped answering

    @property
    def ok(self) -> bool:
        return self.phase == OperationPhase.SUCCEEDED


@dataclass
class SyncResult:
    apps: list[AppSyncResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.apps)
