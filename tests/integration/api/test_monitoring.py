"""packaging/monitoring: the alert rules and the Grafana dashboard, checked by Prometheus' own tool.

``promtool`` (Debian's ``prometheus`` package, installed by
packaging/system-deps.sh) checks the rules, runs their unit tests (each
alert fires on a synthetic series), and parses every dashboard query.  The
names the rules and the dashboard use are compared with what a real
supervisor's ``/metrics`` exports, so a renamed metric cannot leave an alert
that never fires.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

MONITORING = Path(__file__).resolve().parents[3] / "packaging" / "monitoring"
RULES = MONITORING / "deskpilot-alerts.yml"
RULE_TESTS = MONITORING / "deskpilot-alerts.test.yml"
DASHBOARD = MONITORING / "deskpilot-dashboard.json"
#: Series Prometheus makes itself, not Deskpilot.
BUILTIN = {"up"}
METRIC = re.compile(r"\b(deskpilot_[a-z0-9_]+|up)\b")
#: Grafana's variables, as Prometheus would see them once Grafana filled them in.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$machine": ".*"}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: install Debian's 'prometheus' package "
            "(bash packaging/system-deps.sh)",
            pytrace=False,
        )
    return found


def _run(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def test_the_alert_rules_pass_promtool(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = {rule["alert"] for rule in _rules()}
    assert names >= {
        "DeskpilotRunFailureRateHigh",
        "DeskpilotBreakerOpen",
        "DeskpilotSupervisorHeartbeatMissing",
        "DeskpilotQueuedRunWaiting",
    }


def test_every_alert_fires_on_a_synthetic_series(promtool: str) -> None:
    tested = _run(promtool, "test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check.get("exp_alerts")
    }
    assert firing == {rule["alert"] for rule in _rules()}, "an alert without a firing test"


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    """Each query, with Grafana's variables filled in, as a recording rule promtool parses."""
    rules = []
    for index, query in enumerate(_dashboard_queries()):
        if query.startswith("label_values("):
            query = query.split("(", 1)[1].split(",", 1)[0]  # its metric
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _run(promtool, "check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _exported(text: str) -> set[str]:
    """The sample names ``/metrics`` text declares, empty families included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        # the parser strips a counter's _total from its family name; Prometheus keeps it
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def test_the_dashboard_and_rules_use_only_what_metrics_exports(api_http: httpx.Client) -> None:
    exported = _exported(api_http.get("/metrics").text)
    used: dict[str, set[str]] = {"dashboard": set(), "alert rules": set()}
    for query in _dashboard_queries():
        used["dashboard"].update(METRIC.findall(query))
    for rule in _rules():
        used["alert rules"].update(METRIC.findall(rule["expr"]))
    for where, names in used.items():
        assert names, where
        unknown = names - exported - BUILTIN
        assert not unknown, f"the {where} use metrics /metrics does not export: {sorted(unknown)}"
