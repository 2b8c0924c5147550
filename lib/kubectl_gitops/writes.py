"""Writing one object the way its sync options ask (server-side apply, create, replace, merge patch,
or delete and re-create); the same path serves the dry-run and the write."""

from __future__ import annotations

from kubectl_gitops.cluster import ApiError, ApiResource, Client
from kubectl_gitops.masking import mask_message
from kubectl_gitops.model import FORCE, REPLACE, SERVER_SIDE_APPLY, VALIDATE, Obj, SyncOptions, is_secret

NO_REPLACE_KINDS = ("CustomResourceDefinition", "Namespace")  # updated, never replaced


def write_object(client: Client, res: ApiResource, obj: Obj, live: Obj | None, opts: SyncOptions, *,
                 dry_run: bool) -> Obj:
    """Create/update `obj` the way its sync options ask; the same path serves the dry-run and the write.

    Default: server-side apply. Replace=true: PUT (POST when absent). ServerSideApply=false or
    Validate=false (server-side apply always checks the schema): POST, else a JSON merge patch.
    Force=true: delete and re-create when the change hits an immutable field. What the server says
    about a Secret it refused is masked: it quotes the values it could not take.
    """
    try:
        return _write_object(client, res, obj, live, opts, dry_run=dry_run)
    except ApiError as e:
        if not is_secret(obj):
            raise
        raise ApiError(mask_message(e.message, obj), status=e.status, reason=e.reason, hint=e.hint) from None


def _write_object(client: Client, res: ApiResource, obj: Obj, live: Obj | None, opts: SyncOptions, *,
                  dry_run: bool) -> Obj:
    validate = not opts.is_false(VALIDATE)
    meta = obj["metadata"]
    if opts.is_true(REPLACE) and obj.get("kind") not in NO_REPLACE_KINDS:
        if live is None:
            return client.create(res, obj, dry_run=dry_run, validate=validate)
        if opts.is_true(FORCE):
            return _recreate(client, res, obj, dry_run=dry_run, validate=validate)
        body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}}
        return client.replace(res, body, dry_run=dry_run, validate=validate)
    if opts.is_false(SERVER_SIDE_APPLY) or not validate:
        if live is None:
            return client.create(res, obj, dry_run=dry_run, validate=validate)
        return client.merge_patch(res, meta.get("namespace", ""), meta["name"], obj, dry_run=dry_run,
                                  validate=validate)
    try:
        return client.apply(res, obj, dry_run=dry_run)
    except ApiError as e:
        if e.status != 422 or not opts.is_true(FORCE) or live is None:
            raise
        return _recreate(client, res, obj, dry_run=dry_run, validate=validate)


def _recreate(client: Client, res: ApiResource, obj: Obj, *, dry_run: bool, validate: bool) -> Obj:
    meta = obj["metadata"]
    if dry_run:  # validate the new object under a generated name that cannot collide with the live one
        probe = {**obj, "metadata": {k: v for k, v in meta.items() if k != "name"}}
        probe["metadata"]["generateName"] = meta["name"] + "-"
        result = client.create(res, probe, dry_run=True, validate=validate)
        result["metadata"]["name"] = meta["name"]
        return result
    client.delete(res, meta.get("namespace", ""), meta["name"], propagation="Foreground")
    client.wait_gone(res, meta.get("namespace", ""), meta["name"])
    return client.create(res, obj, validate=validate)
