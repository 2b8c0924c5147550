"""Finding the promotion chain and the overlays, over an in-memory tree."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote.config import CONFIG_PATH
from kubectl_gitops.promote.layout import Layout, Target, load_layout
from kubectl_gitops.promote.pins import Kind, PinFile


@dataclass
class FakeTree:
    """layout.Tree over a dict of path -> content."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def _children(self, path: str) -> list[tuple[str, bool]]:
        prefix = f"{path}/" if path else ""
        seen: dict[str, bool] = {}
        for p in self.blobs:
            if p.startswith(prefix):
                head, _, rest = p[len(prefix):].partition("/")
                seen[head] = seen.get(head, False) or bool(rest)
        return sorted(seen.items())

    def subdirs(self, path: str) -> list[str]:
        return [name for name, is_dir in self._children(path) if is_dir]

    def files(self, path: str) -> list[str]:
        return [name for name, is_dir in self._children(path) if not is_dir]

    def read(self, path: str) -> bytes | None:
        return self.blobs.get(path)


def tree(*overlay_dirs: str, config: str | None = None, file: str = "kustomization.yaml") -> FakeTree:
    blobs = {f"{d}/{file}": b"images: []\n" for d in overlay_dirs}
    blobs["README.md"] = b"x"
    if config is not None:
        blobs[CONFIG_PATH] = config.encode()
    return FakeTree(blobs)


def standard(*envs: str, services: tuple[str, ...] = ("api", "web")) -> FakeTree:
    return tree(*(f"services/{s}/overlays/{e}" for s in services for e in envs))


def test_infers_the_standard_layout_and_conventional_order() -> None:
    layout = load_layout(standard("prod", "dev", "staging"))
    assert layout.environments == ("dev", "staging", "prod")
    assert layout.services == ["api", "web"]
    assert layout.target("api", "prod") == Target(
        "api", "prod", (PinFile("services/api/overlays/prod/kustomization.yaml", Kind.IMAGE),))
    assert layout.previous("prod") == "staging"
    assert [t.service for t in layout.in_env("dev")] == ["api", "web"]
    assert layout.name == "services|apps/<svc>/overlays/<env>"


def test_other_kustomization_file_names_and_dirs_without_one() -> None:
    t = tree("services/api/overlays/dev", "services/api/overlays/prod", file="Kustomization")
    t.blobs["services/api/overlays/old/notes.txt"] = b""
    layout = load_layout(t)
    assert layout.environments == ("dev", "prod")
    assert layout.target("api", "dev") == Target(
        "api", "dev", (PinFile("services/api/overlays/dev/Kustomization", Kind.IMAGE),))


def test_unknown_environment_names_need_the_config() -> None:
    with pytest.raises(GitopsError, match="cannot tell where environment blue, green goes") as e:
        load_layout(standard("dev", "blue", "green"))
    assert "environments: [dev, staging, prod]" in str(e.value)


def test_config_orders_environments_and_ignores_others() -> None:
    t = standard("dev", "blue", "green", "scratch")
    t.blobs[CONFIG_PATH] = b"environments: [dev, blue, green]\n"
    layout = load_layout(t)
    assert layout.environments == ("dev", "blue", "green")
    assert {t.env for t in layout.targets} == {"dev", "blue", "green"}
    assert layout.origin == CONFIG_PATH


def test_config_patterns() -> None:
    t = tree("apps/api/deploy/dev", "apps/api/deploy/prod", "legacy/dev", "legacy/prod",
             config="environments: [dev, prod]\noverlays: apps/{service}/deploy/{env}\n"
                    "services:\n  old: legacy/{env}\n")
    layout = load_layout(t)
    assert layout.services == ["api", "old"]
    assert layout.target("old", "prod") == Target(
        "old", "prod", (PinFile("legacy/prod/kustomization.yaml", Kind.IMAGE),))


@pytest.mark.parametrize(("config", "error"), [
    ("[dev]\n", "expected a mapping"),
    ("environment: [dev]\n", "unknown key 'environment'"),
    ("environments: []\n", "environments: must be a list"),
    ("environments: [dev, dev]\n", "lists a name twice"),
    ("overlays: services/{service}/overlays\n", r"must use \{env\} once and \{service\} at most once"),
    ("overlays: x/{env}/{env}\n", r"must use \{env\} once"),
    ("overlays: x/{service}-{env}\n", "at most one per directory or file name"),
    ("overlays: ../{env}\n", "must use"),
    ("environments: [{name: dev}]\n", r"environments\[0\] must be a name, or name: and path:"),
    ("environments: [{name: dev, path: '../x'}]\n", "must be a plain path inside the repository"),
    ("helm: {imageKeys: image.tag}\n", "helm.imageKeys: must list keys"),
    ("services: [a]\n", "services: must map each service"),
    ("services:\n  a: x/{service}/{env}\n", r"services.a: .* must use \{env\} once"),
    ("environments: [dev\n", "invalid YAML"),
])
def test_config_errors_name_the_file(config: str, error: str) -> None:
    with pytest.raises(GitopsError, match=error) as e:
        load_layout(tree("services/api/overlays/dev", config=config))
    assert str(e.value).startswith(CONFIG_PATH)


def test_no_overlays() -> None:
    with pytest.raises(GitopsError, match=r"no environments found; looked for overlays/<env> \(one app"):
        load_layout(FakeTree({"README.md": b""}))


def test_environment_and_service_checks() -> None:
    layout = Layout(("dev", "staging", "prod"), (Target("api", "dev", (PinFile("a", Kind.IMAGE),)),), "test",
                    "x", ("image",))
    assert layout.check_env("prod") == "prod"
    with pytest.raises(GitopsError, match=r"unknown environment 'qa'; known \(from test\): dev, staging, prod"):
        layout.check_env("qa")
    with pytest.raises(GitopsError, match="dev is the first environment"):
        layout.previous("dev")
    assert layout.select_services([]) == ["api"]
    with pytest.raises(GitopsError, match="unknown service 'db'; known: api"):
        layout.select_services(["db"])


def test_configured_environment_paths_per_service_and_shared_value_files() -> None:
    app = ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: shop}}\nspec:\n"
           "  source:\n    repoURL: https://git.example/shop.git\n    path: chart\n    targetRevision: main\n"
           "    helm:\n      valueFiles: [values.yaml, values-{env}.yaml, ../../outside.yaml]\n")
    t = FakeTree({CONFIG_PATH: b"environments:\n  - dev\n  - name: prod\n    path: {shop: live/shop, db: live/db}\n",
                  "envs/dev/app.yaml": app.format(env="dev").encode(), "chart/values.yaml": b"image: {}\n",
                  "chart/values-dev.yaml": b"image: {tag: '1'}\n",
                  "live/shop/app.yaml": app.format(env="prod").encode(),
                  "chart/values-prod.yaml": b"image: {tag: '1'}\n", "live/db/kustomization.yaml": b"images: []\n"})
    layout = load_layout(t)
    assert layout.name == "envs|environments/<env>[/<svc>] and the paths in .gitops/promotion.yaml"
    assert layout.target("", "dev") == Target("", "dev", (PinFile("envs/dev/app.yaml", Kind.REVISION),
                                                          PinFile("chart/values-dev.yaml", Kind.VALUES)))
    # chart/values.yaml is read by both environments: neither may change it
    assert layout.target("shop", "prod") == Target("shop", "prod", (
        PinFile("live/shop/app.yaml", Kind.REVISION), PinFile("chart/values-prod.yaml", Kind.VALUES)))
    assert layout.target("db", "prod") == Target("db", "prod", (PinFile("live/db/kustomization.yaml", Kind.IMAGE),))
