#!/usr/bin/env python3
"""Turn a municipality file into the parameters of infra/main.bicep.

A municipality file is {"deployment": {...}, "organisation": {...}}. Every key of "deployment"
is a parameter of main.bicep by the same (camelCase) name; "organisation" is the parameter
`organisation`, which the template hands to the app as compact JSON in ORGANISATION_CONFIG.
deploy.sh, the azd hook and tests/infra all use this one mapping.

Standard library only: operators run it with any python3. When the project's packages are
importable (make deps), the organisation is also validated with the app's own model.

    python3 infra/deploy_params.py infra/municipalities/region-jonkoping.json            # ARM parameters file on stdout
    python3 infra/deploy_params.py infra/municipalities/region-jonkoping.json --budget   # infra/budget.bicep's
    python3 infra/deploy_params.py infra/municipalities/region-jonkoping.json --field location
    python3 infra/deploy_params.py infra/municipalities/region-jonkoping.json --azd infra/main.parameters.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
MUNICIPALITIES = INFRA / "municipalities"

PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"

# Template parameters a municipality file must not set: deploy.sh (or azd) fills them in.
FILLED_IN_BY_DEPLOY = ("deployerPrincipalId", "deployerPrincipalType", "budgetStartDate", "actionGroupId")
# Keys of "deployment" that are parameters of infra/budget.bicep, not of main.bicep: the budget is a
# deployment of its own, so a subscription that refuses budgets (CSP "Azure plan") still gets the app.
BUDGET_ONLY = ("monthlyBudget", "budgetAlertPercent")
# Keys the budget template takes from the file as well (main.bicep takes them too).
BUDGET_SHARED = ("alertEmail",)

NAME_PREFIX = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Alert phones: the template splits off a two-digit country code. Azure Monitor sends SMS to
# Norway (47) but not to Sweden (46), and calls both: learn.microsoft.com/azure/azure-monitor/alerts/action-groups
# (Countries/Regions with SMS notification support; ... with Voice notification support).
ALERT_PHONE = re.compile(r"^\+(46|47)[0-9]{6,12}$")
SMS_ALERT_COUNTRIES = {"47"}


# Numbers that must never go live (issue 20.7): residents are sent the coordinator's number, and the
# sender and alert numbers must reach someone real. The repository's files carry such numbers until a
# municipality fills them in; `make dev` uses them as they are, a deployment (deploy.sh, azd) refuses them.
#
# Sweden: PTS reserves 070-174 06 05 - 070-174 06 99 for use in films, TV and books (reported from PTS,
# https://www.tellerreport.com/life/2020-09-07-hundreds-of-telephone-numbers-are-reserved-for-film--television-and-books.Symrwpm4w.html;
# PTS's own page was not found to cite). Norway: no range reserved for fiction was found at Nkom
# (https://nkom.no/telefoni-og-telefonnummer/telefonnummer-og-den-norske-nummerplan); its placeholders are
# caught by the rules below. Both: libphonenumber's example numbers (070-123 45 67, 412 34 567), which
# documentation everywhere copies, and runs such as 123456 or 000000 that no one is assigned by chance.
FICTION_RANGES = {"+46": [(701740605, 701740699)]}
EXAMPLE_NUMBERS = {"+46701234567", "+4741234567"}
MADE_UP_RUNS = re.compile(r"123456|234567|345678|456789|987654|(\d)\1{5}")
LIVE_NUMBER_FIELDS = {
    "deployment.smsSender": "the Twilio number (or alphanumeric sender) this deployment sends from",
    "deployment.alertPhone": "the phone of the person on call for alerts",
    "organisation.coordinator_phone": "the coordinator's mobile: facilitators' replies and alerts go there",
    "organisation.coordinator.phone": "the coordinator's public number, which residents are sent",
}


def placeholder_reason(number: str) -> str | None:
    """Why `number` cannot be a real one, or None. Accepts E.164 and numbers as people dial them."""
    digits = re.sub(r"[^0-9+]", "", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("0"):  # a national number ("010-242 41 73"): checked without its trunk 0
        national = digits[1:]
        candidates = [f"+46{national}", f"+47{national}"]
    else:
        national = digits[3:] if digits.startswith("+") else digits
        candidates = [digits]
    for candidate in candidates:
        for prefix, ranges in FICTION_RANGES.items():
            if candidate.startswith(prefix) and candidate[len(prefix) :].isdigit():
                value = int(candidate[len(prefix) :])
                if any(low <= value <= high for low, high in ranges):
                    return "is in the range PTS reserves for films, TV and books (070-174 06 05 to 070-174 06 99)"
        if candidate in EXAMPLE_NUMBERS:
            return "is the example number documentation uses"
    if MADE_UP_RUNS.search(national):
        return "looks made up (a run such as 123456 or 000000)"
    return None


def check_live_numbers(document: dict[str, Any]) -> list[str]:
    """Problems for a real deployment: every number a person depends on must be a real one."""
    deployment, organisation = document["deployment"], document["organisation"]
    coordinator = organisation.get("coordinator") or {}
    values = {
        "deployment.smsSender": deployment.get("smsSender"),
        "deployment.alertPhone": deployment.get("alertPhone"),
        "organisation.coordinator_phone": organisation.get("coordinator_phone"),
        "organisation.coordinator.phone": coordinator.get("phone") if isinstance(coordinator, dict) else None,
    }
    problems = []
    for field, value in values.items():
        if not isinstance(value, str) or not value or ALPHANUMERIC_SENDER.match(value):
            continue  # absent (other checks say if it is required) or a sender name
        reason = placeholder_reason(value)
        if reason:
            problems.append(f"{field} {value} {reason}: fill in {LIVE_NUMBER_FIELDS[field]}")
    return problems


class MunicipalityError(ValueError):
    """A municipality file that cannot be deployed; the message says what to fix."""


def known_municipalities() -> list[str]:
    return sorted(p.stem for p in MUNICIPALITIES.glob("*.json"))


def municipality_path(name_or_path: str) -> Path:
    """`region-jonkoping` or a path to a file; raises with the known names if there is none."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix == ".json" else MUNICIPALITIES / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(known_municipalities()) or "(none)"
        raise MunicipalityError(
            f"unknown municipality {name_or_path!r}: no {path}. Known municipalities: {known}. "
            "Create one with: python3 infra/new_municipality.py"
        )
    return path


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MunicipalityError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"deployment", "organisation"}:
        raise MunicipalityError(f'{path}: expected exactly the keys "deployment" and "organisation"')
    if not isinstance(document["deployment"], dict) or not isinstance(document["organisation"], dict):
        raise MunicipalityError(f'{path}: "deployment" and "organisation" must be objects')
    return document


def check_deployment(path: Path, document: dict[str, Any]) -> list[str]:
    """Checks the template cannot express (it has no regular expressions); returns problems."""
    deployment, organisation = document["deployment"], document["organisation"]
    problems = []
    for key in ("location", "namePrefix", "smsSender"):
        if not isinstance(deployment.get(key), str) or not deployment.get(key):
            problems.append(f"deployment.{key} is required (a non-empty string)")
    for key in FILLED_IN_BY_DEPLOY:
        if key in deployment:
            problems.append(f"deployment.{key} is filled in by the deploy; remove it from the file")
    if "organisation" in deployment:
        problems.append('deployment.organisation: the organisation belongs under the top-level "organisation"')
    prefix = deployment.get("namePrefix")
    if isinstance(prefix, str) and not (2 <= len(prefix) <= 10 and NAME_PREFIX.match(prefix)):
        problems.append(
            "deployment.namePrefix must be 2-10 lowercase letters, digits and single hyphens, "
            f"starting with a letter (got {prefix!r})"
        )
    sender = deployment.get("smsSender")
    if isinstance(sender, str) and sender and not (E164.match(sender) or ALPHANUMERIC_SENDER.match(sender)):
        problems.append(
            "deployment.smsSender must be an E.164 number (+46701234567) or an alphanumeric sender "
            f"of 1-11 letters, digits and spaces with at least one letter (got {sender!r})"
        )
    rate = deployment.get("smsRatePerSecond")
    if rate is not None and not (isinstance(rate, str) and DECIMAL.match(rate) and 0 < float(rate) <= 1000):
        problems.append(f'deployment.smsRatePerSecond must be a decimal number in text, e.g. "1" (got {rate!r})')
    sid = deployment.get("twilioAccountSid")
    if sid and not re.match(r"^AC[0-9a-f]{32}$", str(sid)):
        problems.append(f"deployment.twilioAccountSid must look like AC followed by 32 hex digits (got {sid!r})")
    msid = deployment.get("twilioMessagingServiceSid")
    if msid and not re.match(r"^MG[0-9a-f]{32}$", str(msid)):
        problems.append(
            f"deployment.twilioMessagingServiceSid must look like MG followed by 32 hex digits (got {msid!r})"
        )
    front_door = deployment.get("frontDoorId")
    if front_door and not (isinstance(front_door, str) and GUID.match(front_door)):
        problems.append(f"deployment.frontDoorId must be the Front Door profile's id, a GUID (got {front_door!r})")
    base = deployment.get("publicBaseUrl")
    if base and not (isinstance(base, str) and base.startswith("https://") and not base.endswith("/")):
        problems.append(f"deployment.publicBaseUrl must start with https:// and not end with / (got {base!r})")
    concurrency = deployment.get("httpPerInstanceConcurrency")
    if concurrency is not None and not (
        isinstance(concurrency, int) and not isinstance(concurrency, bool) and 1 <= concurrency <= 1000
    ):
        problems.append(
            "deployment.httpPerInstanceConcurrency must be a whole number from 1 to 1000, the HTTP requests "
            f"one instance serves at once (got {concurrency!r})"
        )
    tags = deployment.get("tags")
    if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
        problems.append(f'deployment.tags must be an object of text values, e.g. {{"owner": "IT"}} (got {tags!r})')
    problems += check_alerts(deployment)
    if organisation.get("id") != path.stem:
        problems.append(f"organisation.id ({organisation.get('id')!r}) must equal the file name ({path.stem!r})")
    return problems


def check_alerts(deployment: dict[str, Any]) -> list[str]:
    """Someone must hear the alerts, by a channel Azure Monitor can use, and the budget is set."""
    problems = []
    email, phone = deployment.get("alertEmail", ""), deployment.get("alertPhone", "")
    if not email and not phone:
        problems.append(
            "deployment.alertEmail or deployment.alertPhone is required: the alerts and budget notices go there"
        )
    if email and not (isinstance(email, str) and EMAIL.match(email)):
        problems.append(f"deployment.alertEmail must be an e-mail address (got {email!r})")
    if phone and not (isinstance(phone, str) and ALERT_PHONE.match(phone)):
        problems.append(
            f"deployment.alertPhone must be a Swedish or Norwegian number in E.164, +46... or +47... (got {phone!r})"
        )
    elif phone and deployment.get("alertPhoneBy", "voice") == "sms" and phone[1:3] not in SMS_ALERT_COUNTRIES:
        problems.append(
            f"deployment.alertPhoneBy is sms, but Azure Monitor sends no SMS to +{phone[1:3]}: use voice or alertEmail"
        )
    budget = deployment.get("monthlyBudget")
    if not (isinstance(budget, int) and not isinstance(budget, bool) and budget > 0):
        problems.append(
            "deployment.monthlyBudget is required: the Azure costs a month (billing currency) that trigger a notice "
            f"(got {budget!r})"
        )
    return problems


def validate_organisation(document: dict[str, Any]) -> str | None:
    """Validates with the app's model when it can be imported; returns a note when it cannot."""
    sys.path.insert(0, str(ROOT))
    try:
        from shared.core.organisation import parse_organisation
    except ImportError as exc:
        return f"organisation not validated here ({exc.name} is not installed; `make deps` installs it)"
    finally:
        sys.path.remove(str(ROOT))
    parse_organisation(document["organisation"])  # raises OrganisationConfigError naming each field
    return None


def template_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """The mapping itself (main.bicep): deployment keys as they are, but the budget's, plus the
    organisation document."""
    parameters = {k: v for k, v in document["deployment"].items() if k not in BUDGET_ONLY}
    parameters["organisation"] = document["organisation"]
    return parameters


def budget_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """infra/budget.bicep's parameters from the file (deploy.sh adds the start date and action group)."""
    deployment = document["deployment"]
    return {k: deployment[k] for k in (*BUDGET_ONLY, *BUDGET_SHARED) if k in deployment}


def parameters_file(
    document: dict[str, Any], extra: dict[str, Any] | None = None, *, budget: bool = False
) -> dict[str, Any]:
    values = (budget_parameters(document) if budget else template_parameters(document)) | (extra or {})
    return {
        "$schema": PARAMETERS_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {name: {"value": value} for name, value in values.items()},
    }


def resource_group(document: dict[str, Any]) -> str:
    return f"rg-gruppstart-{document['organisation']['id']}"


FIELD_NAMES = ("id", "name", "location", "namePrefix", "smsSender", "twilioAccountSid", "resourceGroup")


def fields(document: dict[str, Any]) -> dict[str, str]:
    """Single values deploy.sh needs, as text."""
    deployment = document["deployment"]
    return {
        "id": document["organisation"]["id"],
        "name": document["organisation"].get("name", ""),
        "location": deployment["location"],
        "namePrefix": deployment["namePrefix"],
        "smsSender": deployment["smsSender"],
        "twilioAccountSid": deployment.get("twilioAccountSid", ""),
        "resourceGroup": resource_group(document),
    }


def group_tags(document: dict[str, Any]) -> list[str]:
    """The resource group's tags as az takes them (key=value): the file's tags and the two that
    main.bicep adds to every resource, so a group created by deploy.sh carries what policy expects."""
    tags = dict(document["deployment"].get("tags") or {})
    tags |= {"app": "gruppstart", "municipality": document["organisation"]["id"]}
    return [f"{key}={value}" for key, value in tags.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("municipality", help="a name under infra/municipalities/ or a path to a file")
    parser.add_argument("--field", choices=FIELD_NAMES, help="print one value instead of the parameters file")
    parser.add_argument("--fields", action="store_true", help="print every field as NAME<tab>VALUE lines")
    parser.add_argument(
        "--azd", metavar="PATH", help="write an azd parameters file (deployer from ${AZURE_PRINCIPAL_ID})"
    )
    parser.add_argument("--group-tags", action="store_true", help="print the resource group's tags, key=value a line")
    parser.add_argument("--budget", action="store_true", help="print infra/budget.bicep's parameters file instead")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip validating the organisation with the app's model"
    )
    parser.add_argument("--quiet", action="store_true", help="no notes on standard error")
    parser.add_argument(
        "--live",
        action="store_true",
        help="for a real deployment: refuse placeholder and fiction-range numbers (deploy.sh and azd pass it)",
    )
    args = parser.parse_args(argv)
    try:
        path = municipality_path(args.municipality)
        document = load(path)
        problems = check_deployment(path, document)
        if args.live:
            problems += check_live_numbers(document)
        if problems:
            raise MunicipalityError(f"{path}:\n  - " + "\n  - ".join(problems))
        note = None if args.no_validate else validate_organisation(document)
    except (MunicipalityError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if note and not args.quiet:
        print(f"note: {note}", file=sys.stderr)
    if args.field:
        print(fields(document)[args.field])
    elif args.group_tags:
        print("\n".join(group_tags(document)))
    elif args.fields:
        for name, value in fields(document).items():
            print(f"{name}\t{value}")
    elif args.azd:
        # azd fills these two from the signed-in principal (user or service principal).
        extra = {"deployerPrincipalId": "${AZURE_PRINCIPAL_ID}", "deployerPrincipalType": "${AZURE_PRINCIPAL_TYPE}"}
        Path(args.azd).write_text(
            json.dumps(parameters_file(document, extra), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    else:
        print(json.dumps(parameters_file(document, budget=args.budget), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
