"""host.json logging keeps every invocation and failure visible in Application Insights and
samples the rest, so telemetry stays cheap.

Source: https://learn.microsoft.com/azure/azure-functions/configure-monitoring — `Host.Results`
writes the `requests` table and `Host.Aggregator` the `customMetrics` table, both only at
`Information`: "If `Host.Results` category is set to `Error` log level, it will only gather host
execution telemetry events in the `requests` table for failed function executions". `Function`
carries the invocation traces, the poison-queue warnings and the app's own logs. Sampling with
`excludedTypes: "Request;Exception"` keeps *all* requests and exceptions and samples the rest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import ROOT

LEVELS = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]


@pytest.fixture(scope="module")
def logging_config() -> dict[str, Any]:
    return json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["logging"]


def level(config: dict[str, Any], category: str) -> int:
    """The level host.json gives a category: the longest configured prefix wins, else default."""
    levels = config["logLevel"]
    matches = [name for name in levels if name != "default" and (category == name or category.startswith(name + "."))]
    chosen = max(matches, key=len) if matches else "default"
    return LEVELS.index(levels[chosen])


@pytest.mark.parametrize(
    "category",
    [
        "Host.Results",  # requests: every invocation, successful or not
        "Host.Aggregator",  # customMetrics: counts, success rate, durations
        "Function.send_notification",  # invocation traces and the poison-queue warning
        "Function.send_notification.User",  # the app's own log lines (the alert rules read them)
    ],
)
def test_invocations_and_the_apps_logs_reach_application_insights(
    logging_config: dict[str, Any], category: str
) -> None:
    assert level(logging_config, category) <= LEVELS.index("Information"), category


def test_the_host_s_own_chatter_stays_out(logging_config: dict[str, Any]) -> None:
    """Everything else (Microsoft.*, Worker, Host.Startup...) only from Warning up: cost."""
    assert level(logging_config, "Microsoft.Azure.WebJobs.Script") >= LEVELS.index("Warning")
    assert level(logging_config, "Worker") >= LEVELS.index("Warning")


def test_sampling_keeps_every_request_and_exception(logging_config: dict[str, Any]) -> None:
    sampling = logging_config["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True, "traces and dependencies are sampled"
    assert {"Request", "Exception"} <= set(sampling["excludedTypes"].split(";")), "failure rates stay exact"
    assert sampling.get("maxTelemetryItemsPerSecond", 20) <= 20


def test_the_level_helper_can_fail() -> None:
    """An Error level on Host.Results (the old host.json) is caught."""
    old = {"logLevel": {"default": "Warning", "Host.Results": "Error", "Function": "Information"}}
    assert level(old, "Host.Results") > LEVELS.index("Information")
    assert level(old, "Function.x.User") == LEVELS.index("Information")


def test_queue_retries_outlast_a_ten_minute_outage() -> None:
    """Queue storage triggers retry by the binding extension's rules in host.json, not by retry
    policies (https://learn.microsoft.com/azure/azure-functions/functions-bindings-error-pages#retries);
    a failed message is visible again after visibilityTimeout ("the time interval between retries
    when processing of a message fails",
    https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json) and
    is poisoned on its maxDequeueCount-th failure. The old 30 s x 5 gave up after about two minutes;
    tests/faults/test_faults.py (the ten-minute provider outage) runs the outage itself."""
    queues = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    hours, minutes, seconds = (int(part) for part in queues["visibilityTimeout"].split(":"))
    between_tries = hours * 3600 + minutes * 60 + seconds
    survives = (queues["maxDequeueCount"] - 1) * between_tries
    assert survives >= 10 * 60, f"a message is poisoned after {survives} s of outage"
    # A message whose run died holds its rows' claims for the notifier's STALE_CLAIM: its retry
    # must come no sooner, or it only finds the claims and spends a try.
    from shared.services.notify import STALE_CLAIM

    assert between_tries >= STALE_CLAIM.total_seconds()
    # The functionTimeout bounds one try; the message stays hidden while it runs.
    assert json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["functionTimeout"] == "00:05:00"
