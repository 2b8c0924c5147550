"""`kubectl gitops watch`: the reconcile loop, its live cache, webhook and metrics."""
