"""`git promote`: move pinned versions along a chain of environments (dev → staging → prod).

Layers, top to bottom: `commands` (one function per CLI command) → `status`, `messages` (pure) →
`plan` (what changes, pure) → `layout` (which environments and files, from `config` or detected) and
the formats `images` (Kustomize), `values` (Helm), `appsource` (Application sources) over `pins` →
`edit` (round-trip YAML); `gitrepo` holds every pygit2 call.
"""
