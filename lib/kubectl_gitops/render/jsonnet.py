"""Jsonnet files of a directory app, evaluated in-process with rjsonnet (the jrsonnet engine).

Argo CD uses go-jsonnet; its PyPI wrapper (gojsonnet) has no wheel for macOS on x86_64, one of the krew
platforms, while rjsonnet ships abi3 wheels for all four. `directory.jsonnet` gives extVars and tlas
(`code: true` for Jsonnet values) and libs (search directories relative to the repository root). Every
import, the main file included, goes through our callback, which resolves it against the importing
file's directory and then the libs, and refuses anything outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from kubectl_gitops.appsource import Jsonnet
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.render import paths
from kubectl_gitops.trees import Tree

SUFFIX = ".jsonnet"


def evaluate(tree: Tree, f: Path, j: Jsonnet, where: str) -> list[Any]:
    """The objects a .jsonnet file evaluates to: an array of them, or one."""
    import rjsonnet

    libs = [paths.inside(tree, lib, "directory.jsonnet.libs entry", where) for lib in j.libs]
    root = str(tree.root.resolve())

    refused: list[GitopsError] = []  # rjsonnet turns a callback's exception into text: keep ours whole

    def load(base: str, rel: str) -> tuple[str, str]:
        for d in (Path(base), *libs):
            p = d / rel
            try:
                real = paths.confine(tree, p, "Jsonnet import", where, shown=rel)
            except GitopsError as e:
                refused.append(e)
                raise RuntimeError(str(e)) from None
            if real.is_file():
                return str(real), real.read_text()
        raise RuntimeError(f"couldn't open import {rel!r}: no match locally or in the libs")

    try:
        out = rjsonnet.evaluate_file(
            str(f.resolve()), import_callback=load,
            ext_vars={v.name: v.value for v in j.ext_vars if not v.code},
            ext_codes={v.name: v.value for v in j.ext_vars if v.code},
            tla_vars={v.name: v.value for v in j.tlas if not v.code},
            tla_codes={v.name: v.value for v in j.tlas if v.code})
    except RuntimeError as e:
        if refused:
            raise refused[0] from None
        # Messages name files by their path in the cache for a revision: show the repository's path.
        msg = re.sub(re.escape(root) + "/?", "", str(e)).strip()
        raise GitopsError(f"{tree.display(f)}: Jsonnet: {msg}") from None
    doc = orjson.loads(out)
    return doc if isinstance(doc, list) else [doc]
