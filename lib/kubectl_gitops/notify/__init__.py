"""Argo CD notifications (argocd-notifications-cm and -secret, unchanged): expressions, Go templates,
subscriptions, edge-triggered firing and delivery to webhook, Slack and email."""

# The settings' objects in the config namespace: named here, where loading (which fetches them) and
# config (which parses them) both find them without importing the other.
CM_NAME = "argocd-notifications-cm"
SECRET_NAME = "argocd-notifications-secret"
