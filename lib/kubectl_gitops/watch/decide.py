"""Whether an app is synced automatically now: Argo CD's autoSync rules (controller/appcontroller.go),
as a pure function of what compare found and what this loop remembers of its earlier syncs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kubectl_gitops.state import AppState, SyncStatus

HEAL_FIRST, HEAL_FACTOR, HEAL_MAX = 2.0, 3.0, 300.0  # self-heal backoff: 0, 2 s, 6 s, ... capped at 5 min
HEAL_COOLDOWN = 330.0  # synced this long after a heal: the backoff starts over (Argo CD's default)
SETTLE = 2.0  # after a sync, drift counts only once the watch shows a change (or this long has passed)


@dataclass
class Memory:
    """What the loop remembers of an app's last automated sync (Argo CD keeps it in operationState)."""

    target: str = ""  # the revision (or, for a work tree, the digest of the render) last synced
    ok: bool = False
    finished: float = 0.0  # time.monotonic()
    retries: int = 0  # syncs of this target tried again after a failure (syncPolicy.retry)
    heals: int = 0  # self-heal syncs since the target was first synced


class Action(StrEnum):
    SYNC = "sync"
    WAIT = "wait"  # not yet: look again in `after` seconds
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    after: float = 0.0
    heal: bool = False
    retry: bool = False


def decide(state: AppState, target: str, mem: Memory, *, now: float, window: str, drift_seen: bool) -> Decision:
    """`window`: why a sync window blocks an automated sync now ("" : none does); `drift_seen`: the
    watch saw an out-of-sync object change after the last sync finished."""
    app = state.app
    if state.sync_status != SyncStatus.OUT_OF_SYNC:
        if mem.heals and now - mem.finished >= HEAL_COOLDOWN:
            mem.heals = 0
        return Decision(Action.SKIP)
    if not app.automated:
        return Decision(Action.SKIP, "OutOfSync (no syncPolicy.automated: not synced automatically)")
    if window:
        return Decision(Action.SKIP, f"automated sync blocked: {window}")
    if app.auto_prune and not app.allow_empty and not any(rs.desired is not None for rs in state.resources):
        return Decision(Action.SKIP, "automated sync would delete every resource and allowEmpty is not set")
    if target != mem.target:
        return Decision(Action.SYNC, "OutOfSync at a new revision")
    elapsed = now - mem.finished
    if not mem.ok:
        r = app.retry
        if r is None or (0 <= r.limit <= mem.retries):
            why = "no syncPolicy.retry" if r is None else f"retry limit {r.limit} reached"
            return Decision(Action.SKIP, f"the last sync of this revision failed; not retried ({why})")
        wait = r.delay(mem.retries) - elapsed
        if wait > 0:
            return Decision(Action.WAIT, "retrying the failed sync", after=wait)
        return Decision(Action.SYNC, f"retry {mem.retries + 1} of the failed sync", retry=True)
    if not app.self_heal:
        return Decision(Action.SKIP, "OutOfSync: drifted from the synced revision (selfHeal is off)")
    wait = heal_delay(mem.heals) - elapsed
    if not drift_seen and elapsed < SETTLE:
        wait = max(wait, SETTLE - elapsed)  # the watch may not have delivered our own writes yet
    if wait > 0:
        return Decision(Action.WAIT, "self-heal backoff", after=wait)
    return Decision(Action.SYNC, "self-heal: drift reverted", heal=True)


def heal_delay(heals: int) -> float:
    """Argo CD's self-heal backoff: the first heal at once, then 2 s, ×3 each time, at most 5 min."""
    return 0.0 if heals == 0 else min(HEAL_MAX, HEAL_FIRST * HEAL_FACTOR ** (heals - 1))


def remember(mem: Memory, target: str, ok: bool, now: float, d: Decision) -> None:
    """After a sync the decision asked for."""
    if target != mem.target:
        mem.retries = mem.heals = 0
    mem.target, mem.ok, mem.finished = target, ok, now
    mem.retries += d.retry
    mem.heals += d.heal
