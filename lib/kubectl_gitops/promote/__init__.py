"""`git promote`: move pinned image tags along a chain of Kustomize overlays (dev → staging → prod).

Layers, top to bottom: `commands` (one function per CLI command) → `status`, `plan`, `messages` (pure)
→ `layout` (which overlays exist), `edit` (round-trip YAML), `gitrepo` (every pygit2 call) → `images`.
"""
