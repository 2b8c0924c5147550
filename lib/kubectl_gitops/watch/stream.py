"""The live cache of a watch: one LIST per kind (and namespace) in play, then a WATCH that keeps it
current (gitops-engine's cluster cache). A WATCH starts at the LIST's resourceVersion, asks for
bookmarks, reconnects with backoff from the last version it saw, and lists again only on 410 Gone.

A WatchSet (one cluster's) is a live.Lister: compare reads the cache instead of sending a LIST.
Watches has one WatchSet per cluster, made when compare first reads that cluster.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import orjson

from kubectl_gitops.cluster import ApiError, ApiResource, Client
from kubectl_gitops.model import Obj, ResourceKey, key_of

WATCH_SECONDS = 300  # the server ends each WATCH after this long; we reconnect from where we were
READ_SLACK = 60.0  # bookmarks come about every minute: silence longer than this means a dead stream
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0

OnChange = Callable[[ResourceKey], None]


class Gone(Exception):
    """The resourceVersion we watch from was compacted away (410): list again."""


class KindWatch:
    """One kind in one namespace ("" for all): a store of its objects kept current by a thread."""

    def __init__(self, client: Client, res: ApiResource, namespace: str, on_change: OnChange,
                 on_reconnect: Callable[[str], None]) -> None:
        self.client, self.res, self.namespace = client, res, namespace
        self.on_change, self.on_reconnect = on_change, on_reconnect
        self.store: dict[ResourceKey, Obj] = {}
        self.changed_at: dict[ResourceKey, float] = {}  # time.monotonic() of the last event per object
        self.lists = 0
        self._rv = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> None:
        """LIST now (errors reach the caller, as a LIST would), then watch in the background."""
        self._relist()
        threading.Thread(target=self._run, name=f"watch {self.res.plural}", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def snapshot(self) -> list[Obj]:
        """A copy: compare normalizes what it is given, and the cache must stay as the server sent it."""
        with self._lock:
            data = orjson.dumps([*self.store.values()])
        result: list[Obj] = orjson.loads(data)
        return result

    def _relist(self) -> None:
        items, rv = self.client.list_versioned(self.res, self.namespace)
        self.lists += 1
        fresh = {key_of(o): o for o in items}
        with self._lock:
            changed = {k for k in fresh.keys() | self.store.keys() if fresh.get(k) != self.store.get(k)}
            self.store, self._rv = fresh, rv
        if self.lists > 1:  # what changed while we could not watch
            now = time.monotonic()
            for k in changed:
                self.changed_at[k] = now
                self.on_change(k)

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stopped.is_set():
            try:
                if self._stream():
                    delay = BACKOFF_FIRST  # it ran: the server ended it (timeoutSeconds)
                    continue
            except Gone:
                try:
                    self._relist()
                    continue
                except ApiError:
                    pass
            except (OSError, http.client.HTTPException, ValueError):
                pass  # the connection broke (an API server restart): reconnect from the last version
            self.on_reconnect(self.res.plural)
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(BACKOFF_MAX, delay * 2)

    def _stream(self) -> bool:
        """One WATCH until the server ends it; True when it was served (False: refused, try again later)."""
        query = {"watch": "1", "resourceVersion": self._rv, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(WATCH_SECONDS)}
        auth, generation = self.client.credentials.headers()
        headers = [("Accept", "application/json"), ("User-Agent", "kubectl-gitops"), *auth]
        resp = self.client.transport.open_stream(f"{self.res.path(self.namespace)}?{urlencode(query)}", headers,
                                                 timeout=WATCH_SECONDS + READ_SLACK)
        try:
            if resp.status == 410:
                raise Gone()
            if resp.status == 401:
                self.client.credentials.refresh(generation)
                return False
            if resp.status != 200:
                return False
            for line in resp:
                if self._stopped.is_set():
                    return True
                if line.strip():
                    self._event(orjson.loads(line))
            return True
        finally:
            resp.close()

    def _event(self, ev: Obj) -> None:
        kind, obj = ev.get("type"), ev.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise ValueError(obj.get("message") or "watch error")
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "BOOKMARK":
            self._rv = rv or self._rv
            return
        obj.setdefault("apiVersion", self.res.api_version)
        obj.setdefault("kind", self.res.kind)
        key = key_of(obj)
        with self._lock:
            if kind == "DELETED":
                self.store.pop(key, None)
            else:
                self.store[key] = obj
            self._rv = rv or self._rv
            self.changed_at[key] = time.monotonic()
        self.on_change(key)


class WatchSet:
    """Every KindWatch of the loop, started as compare first asks for each kind (a live.Lister)."""

    def __init__(self, client: Client, on_change: OnChange, on_reconnect: Callable[[str], None]) -> None:
        self.client, self.on_change, self.on_reconnect = client, on_change, on_reconnect
        self.watches: dict[tuple[ApiResource, str], KindWatch] = {}
        self._lock = threading.Lock()

    def __call__(self, res: ApiResource, namespace: str) -> list[Obj]:
        with self._lock:
            wide = self.watches.get((res, ""))
            if wide is not None and namespace:
                return [o for o in wide.snapshot() if (o.get("metadata") or {}).get("namespace") == namespace]
            watch = self.watches.get((res, namespace))
            if watch is None:
                watch = KindWatch(self.client, res, namespace, self.on_change, self.on_reconnect)
                watch.start()  # a LIST that fails (403) leaves no watch behind
                self.watches[(res, namespace)] = watch
        return watch.snapshot()

    def changed_since(self, keys: list[ResourceKey], since: float) -> bool:
        """Whether a watch saw any of these objects change after `since` (time.monotonic())."""
        return any(w.changed_at.get(k, 0.0) > since for w in list(self.watches.values()) for k in keys)

    def lists(self) -> int:
        return sum(w.lists for w in list(self.watches.values()))

    def stop(self) -> None:
        for w in list(self.watches.values()):
            w.stop()


class Watches:
    """The WatchSet of each cluster the apps target (an engine.ListerOf); changes are reported with
    the cluster's Client, since one object name can be live on several clusters."""

    def __init__(self, on_change: Callable[[Client, ResourceKey], None],
                 on_reconnect: Callable[[str], None]) -> None:
        self.on_change, self.on_reconnect = on_change, on_reconnect
        self.sets: dict[int, WatchSet] = {}  # id(Client) -> its WatchSet (a Fleet keeps its Clients)
        self._lock = threading.Lock()

    def __call__(self, client: Client) -> WatchSet:
        with self._lock:
            found = self.sets.get(id(client))
            if found is None:
                found = self.sets[id(client)] = WatchSet(client, lambda k: self.on_change(client, k),
                                                         self.on_reconnect)
            return found

    def changed_since(self, client: Client, keys: list[ResourceKey], since: float) -> bool:
        found = self.sets.get(id(client))
        return found is not None and found.changed_since(keys, since)

    def lists(self) -> int:
        return sum(w.lists() for w in list(self.sets.values()))

    def stop(self) -> None:
        for w in list(self.sets.values()):
            w.stop()
