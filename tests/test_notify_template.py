"""The Go text/template engine: each expected output is what Go's text/template (with sprig)
produces for the same template and data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.gofuncs import FUNCS, sprintf
from kubectl_gitops.notify.gotemplate import TemplateError
from kubectl_gitops.notify.gotmplexec import render

DATA: dict[str, Any] = {
    "app": {"metadata": {"name": "guestbook"},
            "spec": {"source": {"repoURL": "https://git.example/repo.git"}},
            "status": {"sync": {"status": "Synced", "revision": "abc123"}, "nothing": None,
                       "conditions": [{"type": "SyncError", "message": "boom"}, {"type": "Warn", "message": "w"}],
                       "operationState": {"syncResult": {"resources": [
                           {"kind": "Deployment", "name": "web"}, {"kind": "Service", "name": "web"}]}}}},
    "context": {"argocdUrl": "https://argo.example"},
    "serviceType": "slack",
    "labels": {"b": "2", "a": "1"},
}


@pytest.mark.parametrize(("text", "expected"), [
    ("{{.app.metadata.name}}", "guestbook"),
    ("{{.context.argocdUrl}}/applications/{{.app.metadata.name}}", "https://argo.example/applications/guestbook"),
    ('{{if eq .serviceType "slack"}}:white_check_mark:{{end}} ok', ":white_check_mark: ok"),
    ('{{if eq .serviceType "email"}}e{{else if eq .serviceType "slack"}}s{{else}}x{{end}}', "s"),
    ('"title": {{- if .app.spec.source }} "Repository" {{- else if .app.spec.sources }} "Repositories" {{- end }},',
     '"title": "Repository",'),
    ("{{range $i, $r := .app.status.operationState.syncResult.resources}}{{if $i}}, {{end}}{{$r.kind}}/{{.name}}"
     "{{end}}", "Deployment/web, Service/web"),
    ("{{range $c := .app.status.conditions}}[{{$c.type}}]{{end}}", "[SyncError][Warn]"),
    ("{{range .labels}}{{.}}{{end}} {{range $k, $v := .labels}}{{$k}}={{$v}};{{end}}", "12 a=1;b=2;"),
    ("{{range .app.nothing}}x{{else}}empty{{end}}", "empty"),
    ("{{range $i, $e := list 1 2 3 4}}{{if eq $e 2}}{{continue}}{{end}}{{if eq $e 4}}{{break}}{{end}}{{$e}}{{end}}",
     "13"),
    ("{{with .app.metadata}}{{.name}}{{end}} {{with .app.nope}}x{{else}}none{{end}}", "guestbook none"),
    ("{{$n := .app.metadata.name}}{{if true}}{{$n = \"changed\"}}{{end}}{{$n}}", "changed"),
    ("{{.app.nope}}|{{.app.nope.deeper}}|{{.app.status.nothing}}", "<no value>|<no value>|<nil>"),
    ("a  {{- /* a comment */ -}}  b\n{{- \"c\" }}", "abc"),
    ("{{ .app.nope | default \"fallback\" }} {{ \"\" | default \"e\" }} {{ .app.metadata.name | default \"x\" }}",
     "fallback e guestbook"),
    ('{{ "Hello World" | trunc 5 | upper }} {{ lower "ABC" }} {{ trim "  t  " }}', "HELLO abc t"),
    ('{{ replace "-" "_" "a-b-c" }} {{ quote .app.metadata.name }} {{ squote "x" }}', 'a_b_c "guestbook" \'x\''),
    ("{{ toJson .app.status.sync }}", '{"status":"Synced","revision":"abc123"}'),
    ("{{ len .app.status.conditions }} {{ index .app.status.conditions 1 \"type\" }} {{ index .labels \"a\" }}",
     "2 Warn 1"),
    ("{{ (index .app.status.conditions 0).message }}", "boom"),
    ('{{ printf "%s has %d conditions (%.1f%%) %q %v" .app.metadata.name 2 12.345 "q" true }}',
     'guestbook has 2 conditions (12.3%) "q" true'),
    ("{{ and 1 0 }} {{ or 0 \"\" \"z\" }} {{ not .app.nope }} {{ and .app.metadata.name \"last\" }}",
     "0 z true last"),
    ("{{ print 1 2 \"a\" 3 \"b\" \"c\" }}", "1 2a3bc"),
    ("{{ 3 }} {{ 1.5 }} {{ 1e6 }} {{ 1234567.0 }} {{ 0.0001 }} {{ 0.00001 }}",
     "3 1.5 1e+06 1.234567e+06 0.0001 1e-05"),
    ("{{ .labels }} {{ list 1 \"a\" }}", "map[a:1 b:2] [1 a]"),
    ("{{ lt 1 2 }} {{ ge \"b\" \"a\" }} {{ ne .serviceType \"email\" }} {{ eq 2 1 2 }}", "true true true true"),
    ("{{ $.app.metadata.name }}{{ with .context }}{{ $.serviceType }}{{ end }}", "guestbookslack"),
    ("{{ dict \"a\" 1 | toJson }} {{ list 1 2 | last }} {{ splitList \",\" \"a,b\" | join \"+\" }}",
     '{"a":1} 2 a+b'),
    ("{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ int \"42\" }}", "6 3 6 3 42"),
    ('{{ dateInZone "2006-01-02 15:04:05 Mon Jan" (toDate "2006-01-02T15:04:05Z07:00" "2024-03-05T07:08:09Z") '
     '"UTC" }}',
     "2024-03-05 07:08:09 Tue Mar"),
])
def test_outputs_match_go(text: str, expected: str) -> None:
    assert render("t", text, DATA, FUNCS) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("{{ .app.status.nothing.field }}", "nil pointer evaluating interface {}.field"),
    ("{{ .app.metadata.name.first }}", "can't evaluate field first in type string"),
    ("{{ nosuchfunc 1 }}", 'function "nosuchfunc" not defined'),
    ("{{ if .x }}unclosed", "unexpected EOF"),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ eq 1 \"a\" }}", "error calling eq: incompatible types for comparison"),
    ("{{ upper 3 }}", "wrong type for value; expected string; got int"),
    ("{{ .app \"arg\" }}", "can't give argument to non-function"),
    ("line1\n{{ $undefined }}", "t:2"),
])
def test_errors_name_template_and_line(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        render("t", text, DATA, FUNCS)
    assert message in str(e.value)
    assert "template: t:" in str(e.value)


def test_go_time_layouts_and_durations() -> None:
    t = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert gv.format_time(t, "2006-01-02T15:04:05Z07:00") == "2024-01-02T03:04:05Z"
    assert gv.format_time(t, "Jan _2 3:04PM .000 .999 MST") == "Jan  2 3:04AM .678 .678 UTC"
    assert gv.format_time(t, "Monday, 02-Jan-06 15:04:05 -0700") == "Tuesday, 02-Jan-24 03:04:05 +0000"
    assert gv.duration_string(90 * 10**9) == "1m30s"
    assert gv.duration_string(1_500_000) == "1.5ms"
    assert gv.duration_string(3600 * 10**9) == "1h0m0s"
    assert gv.parse_duration("1h30m") == 5400 * 10**9
    assert sprintf("%5s|%-5d|%05d|%x", "ab", 3, 42, 255) == "   ab|3    |00042|ff"
    assert sprintf("%d %s", 1) == "1 %!s(MISSING)"
