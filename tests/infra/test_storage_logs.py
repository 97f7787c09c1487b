"""Every data-plane read, write and delete on the tables (special-category data) is logged to the
Log Analytics workspace, and kept for the workspace's stated retention.

Source: https://learn.microsoft.com/azure/storage/tables/monitor-table-storage — resource logs are
collected only through a diagnostic setting on the table service (…/tableServices/default), in the
categories StorageRead, StorageWrite and StorageDelete, and land in the StorageTableLogs table.
Retention in a Log Analytics destination is the workspace's (the diagnostic setting's own
retentionPolicy is deprecated:
learn.microsoft.com/azure/azure-monitor/essentials/migrate-to-azure-storage-lifecycle-policy).
"""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import INFRA, MAIN, MODULES, dotted, template_of

STORAGE = MODULES / "storage.bicep"


def diagnostic_settings(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["config"] for r in template["resources"].values() if r["type"] == "Microsoft.Insights/diagnosticSettings"]


def symbol_of(template: dict[str, Any], type_: str) -> str:
    (symbol,) = [name for name, r in template["resources"].items() if r["type"] == type_]
    return symbol


def test_the_table_service_logs_reads_writes_and_deletes_to_the_workspace(parsed: dict[str, Any]) -> None:
    template = template_of(parsed, STORAGE)
    table_service = symbol_of(template, "Microsoft.Storage/storageAccounts/tableServices")
    on_tables = [d for d in diagnostic_settings(template) if d.get("scope") == table_service]
    assert len(on_tables) == 1, "one diagnostic setting on the table service"
    properties = on_tables[0]["properties"]
    assert properties["workspaceId"] == "logAnalyticsWorkspaceId"
    categories = {entry["category"] for entry in properties["logs"] if entry["enabled"] is True}
    assert categories == {"StorageRead", "StorageWrite", "StorageDelete"}
    assert all("retentionPolicy" not in entry for entry in properties["logs"]), "the workspace's retention rules"


def test_main_sends_them_to_its_workspace_whose_retention_is_the_files(parsed: dict[str, Any]) -> None:
    main = template_of(parsed, MAIN)
    storage = main["modules"]["storage"]["config"]["params"]
    assert dotted(storage["logAnalyticsWorkspaceId"]) == "monitoring.outputs.workspaceId"
    assert main["modules"]["monitoring"]["config"]["params"]["retentionInDays"] == "logRetentionDays"
    monitoring = template_of(parsed, MODULES / "monitoring.bicep")
    (workspace,) = [
        r["config"] for r in monitoring["resources"].values() if r["type"] == "Microsoft.OperationalInsights/workspaces"
    ]
    assert workspace["properties"]["retentionInDays"] == "retentionInDays"
    assert main["parameters"]["logRetentionDays"]["default"] == 30


def test_the_readme_states_where_table_logs_go_and_for_how_long() -> None:
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    assert "StorageTableLogs" in readme and "logRetentionDays" in readme
