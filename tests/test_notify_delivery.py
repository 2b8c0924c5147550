"""`kubectl gitops notify` against loopback receivers: a webhook receiver, a Slack Web API stand-in
at apiURL and an SMTP server with STARTTLS and AUTH. Secrets reach the servers, never our output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from notify_servers import SECRETS, HttpRecorder, Mail, dead_port, http_recorder, smtp_server, write_settings

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source: {repoURL: "https://git.example/repo.git", path: guestbook}
status:
  sync: {status: Synced, revision: 4f2a9c1}
  health: {status: Healthy, lastTransitionTime: "2024-05-01T10:00:07Z"}
  operationState:
    phase: Succeeded
    startedAt: "2024-05-01T09:59:58Z"
    finishedAt: "2024-05-01T10:00:02Z"
    syncResult:
      revision: 4f2a9c1
      resources:
      - {group: apps, kind: Deployment, namespace: default, name: web, status: Synced}
      - {kind: Service, namespace: default, name: web-svc, status: Synced}
"""


class Env:
    def __init__(self, tmp: Path, http: HttpRecorder, smtp_port: int, mails: list[Mail]) -> None:
        self.tmp, self.http, self.mails = tmp, http, mails
        self.app = tmp / "app.yaml"
        self.app.write_text(APP)
        self.cm, self.secret = write_settings(tmp, receiver=http.url, slack_api=f"{http.url}/api/",
                                              smtp_port=smtp_port)

    def notify(self, *args: str):
        return run_cli("kubectl-gitops", "notify", *args, "--notifications-cm", str(self.cm),
                       "--notifications-secret", str(self.secret))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smtp-certs")


@pytest.fixture
def env(tmp_path: Path, certs: Path) -> Iterator[Env]:
    with http_recorder() as http, smtp_server(certs, SECRETS["email-password"]) as (port, mails):
        yield Env(tmp_path, http, port, mails)


def no_secret_in(*texts: str) -> None:
    for text in texts:
        for value in SECRETS.values():
            assert value not in text


def test_webhook_receives_the_rendered_template_and_the_secrets(env: Env) -> None:
    r = env.notify("template", "notify", "app-sync-succeeded", str(env.app), "--recipient", "receiver:")
    assert r.returncode == 0, r.stderr
    (req,) = env.http.requests
    assert (req.method, req.path) == ("POST", "/events/guestbook")
    assert req.json() == {"app": "guestbook", "event": "sync-succeeded", "revision": "4f2a9c1",
                          "resources": ["Deployment/web", "Service/web-svc"]}
    assert req.headers["X-Api-Token"] == SECRETS["receiver-token"]
    import base64
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(
        f"notifier:{SECRETS['receiver-password']}".encode()).decode()
    assert "receiver:" in r.stdout and "sent" in r.stdout
    no_secret_in(r.stdout, r.stderr)


def test_slack_gets_chat_post_message_at_api_url(env: Env) -> None:
    r = env.notify("template", "notify", "app-sync-succeeded", str(env.app), "--recipient", "slack:deploys",
                   "-o", "json")
    assert r.returncode == 0, r.stderr
    (req,) = env.http.requests
    assert (req.method, req.path) == ("POST", "/api/chat.postMessage")
    assert req.headers["Authorization"] == f"Bearer {SECRETS['slack-token']}"
    form = req.form()
    assert form["channel"] == "deploys" and form["username"] == "argocd" and form["icon_emoji"] == ":rocket:"
    assert form["text"].startswith(":white_check_mark: Application guestbook has been successfully synced")
    assert "- Deployment/web: Synced\n- Service/web-svc: Synced" in form["text"]
    (attachment,) = json.loads(form["attachments"])
    assert attachment["title"] == "guestbook"
    assert attachment["title_link"] == "https://argocd.example.com/applications/guestbook"
    assert attachment["fields"][0]["value"] == "4f2a9c1"
    assert json.loads(r.stdout)["deliveries"][0]["result"] == "sent"
    no_secret_in(r.stdout, r.stderr)


def test_slack_grouping_key_threads_later_messages(env: Env) -> None:
    env.cm.write_text(env.cm.read_text() + "  template.grouped: |\n    message: rev {{.app.status.sync.revision}}\n"
                      "    slack:\n      groupingKey: '{{.app.metadata.name}}'\n      notifyBroadcast: true\n")
    r = env.notify("template", "notify", "grouped", str(env.app), "--recipient", "slack:c", "--recipient", "slack:c")
    assert r.returncode == 0, r.stderr
    first, second = (req.form() for req in env.http.requests)
    assert "thread_ts" not in first and first["text"] == "rev 4f2a9c1"
    assert second["thread_ts"] == "1.0001" and second["reply_broadcast"] == "true"


def test_email_over_starttls_with_auth(env: Env) -> None:
    r = env.notify("template", "notify", "app-sync-succeeded", str(env.app), "--recipient",
                   "email:dev@example.com")
    assert r.returncode == 0, r.stderr
    (mail,) = env.mails
    assert mail.tls and mail.login == "mailer"
    assert mail.mail_from == "argocd@example.com" and mail.rcpt_tos == ["dev@example.com"]
    assert "Subject: Application guestbook has been successfully synced." in mail.content
    assert "Revision: 4f2a9c1" in mail.content and ":white_check_mark:" not in mail.content
    no_secret_in(r.stdout, r.stderr)


def test_webhook_retries_5xx_then_delivers(env: Env) -> None:
    env.http.statuses[:] = [503, 502]
    r = env.notify("template", "notify", "app-deployed", str(env.app), "--recipient", "receiver:")
    assert r.returncode == 0, r.stderr
    assert len(env.http.requests) == 3
    assert env.http.requests[-1].json()["event"] == "deployed"


def test_a_dead_receiver_is_a_reported_failure(env: Env) -> None:
    with dead_port() as port:
        env.cm.write_text(env.cm.read_text().replace(env.http.url, f"http://127.0.0.1:{port}"))
        r = env.notify("template", "notify", "app-deployed", str(env.app), "--recipient", "receiver:")
    assert r.returncode == 1
    assert "failed after 4 attempts" in r.stdout and "Connection refused" in r.stdout
    assert "Traceback" not in r.stderr
    no_secret_in(r.stdout, r.stderr)


def test_slack_error_reply_is_a_failure_without_the_token(env: Env) -> None:
    env.http.statuses[:] = [401]
    r = env.notify("template", "notify", "app-deployed", str(env.app), "--recipient", "slack:x")
    assert r.returncode == 1 and "status 401" in r.stdout
    no_secret_in(r.stdout, r.stderr)


def test_template_preview_masks_secret_values(env: Env) -> None:
    env.cm.write_text(env.cm.read_text()
                      + "  template.leaky: |\n    message: token={{ index .secrets \"slack-token\" }}\n")
    r = env.notify("template", "notify", "leaky", str(env.app))
    assert r.returncode == 0, r.stderr
    assert "token=******" in r.stdout
    no_secret_in(r.stdout, r.stderr)


def test_trigger_run_shows_each_condition(env: Env) -> None:
    r = env.notify("trigger", "run", "on-deployed", str(env.app))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["CONDITION", "WHEN", "ONCEPER", "RESULT"]
    assert "4f2a9c1" in r.stdout and r.stdout.rstrip().endswith("true")
    r = env.notify("trigger", "run", "on-sync-failed", str(env.app), "-o", "json")
    assert json.loads(r.stdout)["conditions"][0]["triggered"] is False


def test_a_trigger_with_a_syntax_error_is_a_clear_error(env: Env) -> None:
    env.cm.write_text(env.cm.read_text() + "  trigger.on-broken: |\n    - when: app.status.sync.status == 'Synced' and"
                      " (\n      send: [app-deployed]\n")
    r = env.notify("trigger", "run", "on-deployed", str(env.app))
    assert r.returncode == 2 and r.stdout == ""
    assert "trigger 'on-broken' condition [0] when: syntax error" in r.stderr and "column 41" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_input_is_exit_2(env: Env) -> None:
    r = env.notify("trigger", "run", "no-such-trigger", str(env.app))
    assert r.returncode == 2 and "trigger 'no-such-trigger' is not configured" in r.stderr
    r = env.notify("template", "notify", "app-deployed", str(env.app), "--recipient", "nocolon")
    assert r.returncode == 2 and "SERVICE:DESTINATION" in r.stderr
    r = env.notify("trigger", "run", "on-deployed", str(env.tmp / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr
