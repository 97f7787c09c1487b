"""checkov (PyPI, offline with --skip-download) finds no failed check in infra/. A check that does
not apply is skipped in the template with a `// checkov:skip=ID: reason` comment; each such
comment must still match a check checkov skipped (no stale skips), and give a reason."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import BICEP_FILES, CHECKOV, INFRA, ROOT, require_infra_venv

SKIP_COMMENT = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::\s*(.*))?$")


def run_checkov(directory: Path, *extra: str) -> list[dict[str, Any]]:
    require_infra_venv()
    done = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--skip-download", "--output", "json", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # exit 1 means failed checks; anything else non-zero is checkov itself failing
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    return [r for r in reports if "results" in r]


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    return run_checkov(INFRA)


@pytest.fixture(scope="module")
def bicep_report(reports: list[dict[str, Any]]) -> dict[str, Any]:
    (bicep,) = [r for r in reports if r["check_type"] == "bicep"]
    return bicep


def test_no_failed_check(reports: list[dict[str, Any]]) -> None:
    failed = [
        f"{r['check_type']}: {c['check_id']} {c['check_name']} -- {c['resource']} in {c['file_path']}"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks (fix them, or skip in the template with a reason):\n" + "\n".join(failed)


def test_every_template_was_read(bicep_report: dict[str, Any]) -> None:
    """A file checkov cannot parse is not scanned at all: that must not pass as clean."""
    assert bicep_report["summary"]["parsing_errors"] == 0, bicep_report["results"].get("parsing_errors")
    scanned = {
        c["file_path"].lstrip("/")
        for kind in ("passed_checks", "skipped_checks")
        for c in bicep_report["results"][kind]
    }
    for module in ("modules/storage.bicep", "modules/keyvault.bicep", "modules/functionapp.bicep"):
        assert module in scanned, f"checkov ran no check on infra/{module}"
    assert bicep_report["summary"]["passed"] >= 20


def test_every_skip_gives_a_reason_and_is_still_needed(bicep_report: dict[str, Any]) -> None:
    skipped = {
        (c["file_path"].lstrip("/"), c["check_id"], tuple(c["file_line_range"])): c["check_result"]
        .get("suppress_comment", "")
        .strip()
        for c in bicep_report["results"]["skipped_checks"]
    }
    for reason in skipped.values():
        assert reason and reason != "No comment provided" and len(reason) > 20, f"skip without a reason: {reason!r}"
    problems = []
    for path in BICEP_FILES:
        relative = str(path.relative_to(INFRA))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            check_id, reason = match.groups()
            if not reason or len(reason) < 20:
                problems.append(f"{relative}:{number}: {check_id} needs a written reason")
            used = any(
                file == relative and skipped_id == check_id and start <= number <= end
                for (file, skipped_id, (start, end)) in skipped
            )
            if not used:
                problems.append(
                    f"{relative}:{number}: {check_id} is skipped but checkov did not run it there: remove it"
                )
    assert not problems, "\n".join(problems)


def test_checkov_does_fail_an_insecure_template(tmp_path: Path) -> None:
    """The scan can fail: a storage account with public blobs, shared keys and TLS 1.0 fails."""
    (tmp_path / "bad.bicep").write_text(
        "metadata name = 'bad'\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'stbad'\n  location: 'swedencentral'\n  kind: 'StorageV2'\n"
        "  sku: {\n    name: 'Standard_LRS'\n  }\n"
        "  properties: {\n    allowBlobPublicAccess: true\n    minimumTlsVersion: 'TLS1_0'\n"
        "    supportsHttpsTrafficOnly: false\n  }\n}\n",
        encoding="utf-8",
    )
    (report,) = run_checkov(tmp_path, "--framework", "bicep")
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert {"CKV_AZURE_44", "CKV_AZURE_3"} <= failed, failed
