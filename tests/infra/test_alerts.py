"""Someone hears when it breaks: log search alerts (and the monthly budget of infra/budget.bicep),
per municipality file, to an action group that reaches the file's contacts; and the log lines the
alert queries match are the ones the app and the host really write."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, MAIN, MODULES, MUNICIPALITY_FILES, ROOT, dotted, template_of

ALERTS = MODULES / "alerts.bicep"


@pytest.fixture(scope="module")
def alerts(parsed: dict[str, Any]) -> dict[str, Any]:
    return template_of(parsed, ALERTS)


def resource(template: dict[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [r["config"] for r in template["resources"].values() if r["type"] == type_]
    return found


def rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in template["variables"]["rules"]["value"]}


def test_every_alert_the_issue_asks_for_goes_to_the_action_group(alerts: dict[str, Any]) -> None:
    assert set(rules(alerts)) == {
        "poison-queue",
        "failed-texts",
        "server-errors",
        "function-failures",
        "formation-sweep-silent",
        "lifecycle-silent",
    }
    looped = resource(alerts, "Microsoft.Insights/scheduledQueryRules")
    assert looped["loop_type"]["detail"]["array_name"] == "rules", "one rule resource per entry"
    rule = looped["config"]
    assert rule["properties"]["scopes"] == ["applicationInsightsId"]
    assert rule["properties"]["actions"]["actionGroups"] == [
        {"operator": {"type": "property_accessor", "operands": {"operand_1": "actionGroup", "operand_2": "id"}}}
    ]
    assert rule["properties"]["enabled"] is True
    assert rule["properties"]["criteria"]["allOf"][0]["operator"] == "GreaterThan"
    assert rule["properties"]["evaluationFrequency"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "rule", "operand_2": "frequency"}}
    }


def test_the_action_group_reaches_e_mail_sms_or_voice(alerts: dict[str, Any]) -> None:
    group = resource(alerts, "Microsoft.Insights/actionGroups")
    properties = group["properties"]
    assert group["location"] == "global"
    assert {"emailReceivers", "smsReceivers", "voiceReceivers"} <= set(properties)
    phone = alerts["variables"]["phoneReceiver"]["value"]
    assert set(phone) == {"name", "countryCode", "phoneNumber"}


def test_the_budget_notifies_the_same_people(parsed: dict[str, Any]) -> None:
    template = template_of(parsed, INFRA / "budget.bicep")
    budget = resource(template, "Microsoft.Consumption/budgets")["properties"]
    assert budget["category"] == "Cost" and budget["timeGrain"] == "Monthly"
    assert budget["amount"] == "monthlyBudget"
    assert budget["timePeriod"]["startDate"] == "budgetStartDate"
    kinds = {n["thresholdType"]: n for n in budget["notifications"].values()}
    assert set(kinds) == {"Actual", "Forecasted"}
    assert kinds["Actual"]["threshold"] == "budgetAlertPercent"
    for notification in kinds.values():
        assert notification["contactGroups"] == "contactGroups"
        assert notification["contactEmails"] == "contactEmails"
    groups = str(template["variables"]["contactGroups"]["value"])
    assert "actionGroupId" in groups, "the notices go to the alerts' action group"
    assert template["parameters"]["monthlyBudget"].get("default") is None, "every municipality chooses its budget"


def test_the_budget_is_no_part_of_the_main_deployment(parsed: dict[str, Any]) -> None:
    """A subscription that cannot have a budget (CSP "Azure plan": 422) must still get the app."""
    for path in [MAIN, *MODULES.glob("*.bicep")]:
        types = {r["type"] for r in template_of(parsed, path).get("resources", {}).values()}
        assert "Microsoft.Consumption/budgets" not in types, path.name
    main = template_of(parsed, MAIN)
    assert not {"monthlyBudget", "budgetAlertPercent", "budgetStartDate"} & set(main["parameters"])
    assert dotted(main["outputs"]["AZURE_ACTION_GROUP_ID"]["value"]) == "alerts.outputs.actionGroupId"


def test_main_wires_the_alerts_to_application_insights(parsed: dict[str, Any]) -> None:
    main = template_of(parsed, MAIN)
    params = main["modules"]["alerts"]["config"]["params"]
    assert dotted(params["applicationInsightsId"]) == "monitoring.outputs.applicationInsightsId"
    for name in ("alertEmail", "alertPhone", "alertPhoneBy"):
        assert params[name] == name, f"main.bicep passes its {name} parameter on"


@pytest.mark.parametrize("path", MUNICIPALITY_FILES, ids=lambda p: p.stem)
def test_each_municipality_names_who_hears_the_alerts(path: Path, deploy_params: Any) -> None:
    deployment = deploy_params.load(path)["deployment"]
    assert deployment.get("alertEmail") or deployment.get("alertPhone")
    assert deployment["monthlyBudget"] > 0
    assert deploy_params.check_alerts(deployment) == []


def test_alert_contacts_are_checked(deploy_params: Any) -> None:
    base = {"monthlyBudget": 300}
    assert deploy_params.check_alerts(base), "no contact at all is refused"
    assert deploy_params.check_alerts(base | {"alertPhone": "+46701740605", "alertPhoneBy": "sms"}), (
        "Azure Monitor sends no SMS to Sweden"
    )
    assert deploy_params.check_alerts(base | {"alertPhone": "+46701740605", "alertPhoneBy": "voice"}) == []
    assert deploy_params.check_alerts(base | {"alertPhone": "+4741234567", "alertPhoneBy": "sms"}) == []
    assert deploy_params.check_alerts(base | {"alertPhone": "+4412345678"}), "only +46 and +47 split into 2 + rest"
    assert deploy_params.check_alerts(base | {"alertEmail": "not an address"})
    assert deploy_params.check_alerts({"alertEmail": "drift@example.org"}), "the budget is required"
    assert deploy_params.check_alerts({"alertEmail": "drift@example.org", "monthlyBudget": 300}) == []


def test_the_failed_text_query_parses_the_line_the_notify_function_logs(alerts: dict[str, Any]) -> None:
    """The query reads `notification <outcome> (attempt <n>)`: the format functions/notifications.py
    logs, with the outcomes shared/services/notify.py returns."""
    source = (ROOT / "functions" / "notifications.py").read_text(encoding="utf-8")
    (log_format,) = re.findall(r'log\.info\("(notification %s \(attempt %s\))"', source)
    notify = (ROOT / "shared" / "services" / "notify.py").read_text(encoding="utf-8")
    assert 'Outcome(True, "sent")' in notify or '"sent"' in notify
    assert 'Outcome(False, "failed")' in notify
    query = rules(alerts)["failed-texts"]["query"]
    prefix, middle = re.search(r'parse message with "([^"]+)" outcome:string "([^"]+)" \*', query).groups()
    for outcome in ("sent", "failed"):
        line = log_format % (outcome, 1)
        assert line.startswith(prefix) and middle in line
        assert line[len(prefix) : line.index(middle)] == outcome, "KQL parse would extract the outcome"


def test_the_poison_query_matches_the_host_s_warning(alerts: dict[str, Any]) -> None:
    """The Functions host logs "Message has reached MaxDequeueCount of N. Moving message to queue
    '<queue>-poison'." (azure-webjobs-sdk, QueueProcessor) as a Warning; host.json keeps Warning
    and up, and host.json's queues move a message after maxDequeueCount tries."""
    query = rules(alerts)["poison-queue"]["query"]
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    tries = host["extensions"]["queues"]["maxDequeueCount"]
    assert tries >= 1
    # The whole filter is needles (nothing else in the query could narrow it): the needles are the query.
    table, condition = query.split(" | where ", 1)
    needles = re.findall(r'message has "([^"]+)"', condition)
    assert table == "traces" and condition == " and ".join(f'message has "{n}"' for n in needles)
    assert len(needles) == 2, needles

    def matches(line: str) -> bool:
        return all(needle.lower() in line.lower() for needle in needles)

    for queue in ("notifications", "formation-requests"):
        warning = f"Message has reached MaxDequeueCount of {tries}. Moving message to queue '{queue}-poison'."
        assert matches(warning), warning
    # Positive control: lines the host writes for a message that is only retried do not match.
    assert not matches("Message has reached MaxDequeueCount of 1. Moving message to queue 'notifications'.")
    assert not matches("Executed 'Functions.send_notification' (Failed, Id=1, Duration=5ms)")


def test_request_queries_use_the_requests_table_host_json_keeps(alerts: dict[str, Any]) -> None:
    for name in ("server-errors", "function-failures"):
        assert rules(alerts)[name]["query"].startswith("requests |")
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["logging"]["logLevel"]["Host.Results"] == "Information", "requests only fill at Information"


# --- liveness: an alert when a timer has not run (issue 18, point 6) ------------------------------------

DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def minutes(iso: str) -> int:
    days, hours, mins = (int(g or 0) for g in DURATION.fullmatch(iso).groups())  # type: ignore[union-attr]
    return days * 1440 + hours * 60 + mins


def timer_functions() -> dict[str, str]:
    """Registered timer functions of function_app and the app setting their schedule comes from."""
    import function_app
    from shared.local.runner import indexed_functions

    timers = {}
    for function in indexed_functions(function_app.app):
        trigger = function.get_trigger().get_dict_repr()
        if trigger.get("type") == "timerTrigger":
            timers[function.get_function_name()] = trigger["schedule"]
    return timers


@pytest.mark.parametrize(
    ("rule_name", "function", "window_parameter", "schedule_parameter"),
    [
        ("formation-sweep-silent", "sweep_formation", "formationSweepWindow", "formationSchedule"),
        ("lifecycle-silent", "run_lifecycle", "lifecycleRunWindow", "lifecycleSchedule"),
    ],
)
def test_a_timer_that_has_not_run_in_its_window_raises_an_alert(
    alerts: dict[str, Any],
    main_template: dict[str, Any],
    rule_name: str,
    function: str,
    window_parameter: str,
    schedule_parameter: str,
) -> None:
    """The rule fires on an absence: its query returns a row when the function has no successful
    invocation in the window. It names a timer function the app really registers, and reads the
    requests table, which host.json fills for every invocation and never samples."""
    from shared.local.runner import next_occurrence

    rule = rules(alerts)[rule_name]
    assert rule["severity"] == 1
    query = rule["query"]
    assert query.startswith("requests | ")
    (named,) = re.findall(r'operation_Name == "([^"]+)"', query)
    assert named == function
    assert function in timer_functions(), f"{function} is no timer function of function_app"
    assert "success == true" in query
    assert query.endswith("| summarize runs = count() | where runs == 0"), "a row (the alert) when nothing ran"
    # The window holds several scheduled runs of the default schedule, so one late run is no alarm.
    assert rule["window"] == window_parameter
    window = minutes(alerts["parameters"][window_parameter]["default"])
    schedule = main_template["parameters"][schedule_parameter]["default"]
    from datetime import UTC, datetime

    first = next_occurrence(schedule, datetime(2026, 1, 5, tzinfo=UTC))
    interval = (next_occurrence(schedule, first) - first).total_seconds() / 60
    assert window >= 2 * interval, (window, interval)
    assert minutes(rule["frequency"]) <= window
    declared = alerts["parameters"][window_parameter]["decorators"]
    allowed = next(d["argument"] for d in declared if d["type"] == "allowed")
    assert all(DURATION.fullmatch(value) for value in allowed)
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["logging"]
    assert host["logLevel"]["Host.Results"] == "Information"
    assert "Request" in host["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")


def test_the_timers_log_a_line_when_they_finish() -> None:
    """Beside their invocation record, each timer logs one line of counts when it completes (no
    name, number or theme): what someone reading the traces after a liveness alert looks for."""
    for module, prefix in (("formation", "sweep: "), ("lifecycle", "lifecycle: ")):
        source = (ROOT / "functions" / f"{module}.py").read_text(encoding="utf-8")
        lines = re.findall(r'log\.info\(\s*"([^"]+)"', source)
        assert [line for line in lines if line.startswith(prefix)], module
