"""Argo CD notifications (argocd-notifications-cm and -secret, unchanged): expressions, Go templates,
subscriptions, edge-triggered firing and delivery to webhook, Slack and email."""
