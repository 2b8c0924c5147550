"""kubectl-gitops: GitOps in the style of Argo CD, as kubectl and git plugins."""

__version__ = "0.1.0"
