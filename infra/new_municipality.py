#!/usr/bin/env python3
"""Scaffold infra/municipalities/<id>.json for a new municipality or region, and validate it.

Asks for whatever no flag gives (on a terminal), or takes everything as flags (scripts, CI):

    .venv/bin/python infra/new_municipality.py
    .venv/bin/python infra/new_municipality.py --id vaxjo --name "Växjö kommun" --country SE \\
        --locales sv,en --minimum-age 18 --coordinator-phone +46701234567 \\
        --themes-from region-jonkoping --sms-sender Vaxjo --consent-version 2026-11
    .venv/bin/python infra/new_municipality.py --check infra/municipalities/*.json

The organisation is validated with the app's own model (shared.core.organisation), the deployment
part with the rules of infra/deploy_params.py. Run it with the project's environment (make deps);
with another python it re-runs itself under .venv/bin/python when that exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(INFRA))

try:
    from shared.core.organisation import OrganisationConfigError, parse_organisation
except ImportError:  # not the project's environment: use it if it is there
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parent.parent.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606 - same script, project python
    raise SystemExit("error: the app's packages are needed to validate: run `make deps` first") from None

import deploy_params  # noqa: E402 - after the path set-up above

LOCATIONS = {"SE": "swedencentral", "NO": "norwayeast"}
DEFAULT_LOCALES = {"SE": "sv,en", "NO": "nb,en"}
ALERT_PHONE_BY = {"SE": "voice", "NO": "sms"}  # Azure Monitor sends no SMS to Sweden


class Asker:
    """Answers from flags first; on a terminal, asks for the rest; otherwise reports them missing."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.missing: list[str] = []

    def __call__(self, given: Any, question: str, flag: str, default: str | None = None) -> str:
        if given is not None:
            return str(given)
        if not self.interactive:
            if default is not None:
                return default
            self.missing.append(flag)
            return ""
        suffix = f" [{default}]" if default is not None else ""
        while True:
            answer = input(f"{question}{suffix}: ").strip()
            if answer or default is not None:
                return answer or str(default)


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40]


def default_prefix(municipality_id: str) -> str:
    parts = [part for part in municipality_id.split("-") if part]
    short = "".join(part[0] for part in parts) if len(parts) > 1 else "".join(parts)[:4]
    short = re.sub(r"[^a-z0-9]", "", short)[:7]
    return f"gs-{short or 'x'}"


def parse_area(text: str) -> dict[str, str]:
    area_id, sep, name = text.partition("=")
    return {"id": area_id.strip(), "name": name.strip()} if sep else {"id": slug(text), "name": text.strip()}


def themes_from(source: str) -> list[dict[str, Any]]:
    return deploy_params.load(deploy_params.municipality_path(source))["organisation"]["themes"]


# National facts (crisis numbers, supervisory authority, processors, the accessibility statement's law
# and enforcement) are copied from the shipped example of the same country; the municipality's own
# controller and data-protection officer are asked for. Review the copied texts before deploying.
NATIONAL_EXAMPLE = {"SE": "region-jonkoping", "NO": "aurskog-holand"}


def national_parts(country: str, name: str, locales: list[str], controller: str, dpo: str) -> dict[str, Any]:
    example = deploy_params.load(deploy_params.municipality_path(NATIONAL_EXAMPLE.get(country, "region-jonkoping")))
    source = example["organisation"]
    names = dict.fromkeys(locales, name)
    accessibility = {**source["accessibility"], "feedback": {"name": names, "email": controller}}
    return {
        "privacy": {
            "controller": {"name": names, "email": controller},
            "dpo": {"name": names, "email": dpo},
            "authority": source["privacy"]["authority"],
            "processors": source["privacy"]["processors"],
        },
        "accessibility": accessibility,
        "crisis": source["crisis"],
    }


def ask_themes(ask: Asker, locales: list[str]) -> list[dict[str, Any]]:
    themes = []
    print("Themes: give an empty id when done.")
    while True:
        theme_id = input("  theme id (a-z, 0-9, -): ").strip()
        if not theme_id:
            return themes
        text = {}
        for locale in locales:
            label = ask(None, f"    label ({locale})", "--theme")
            description = ask(None, f"    description ({locale})", "--theme")
            text[locale] = {"label": label, "description": description}
        themes.append({"id": theme_id, "text": text})


def build(args: argparse.Namespace, ask: Asker) -> dict[str, Any]:
    municipality_id = ask(args.id, "Id (file name; lowercase letters, digits, hyphens)", "--id")
    name = ask(args.name, "Name, as residents see it", "--name")
    country = ask(args.country, "Country (SE or NO)", "--country", "SE").upper()
    locales = [
        loc.strip()
        for loc in ask(
            args.locales, "Languages, first is the default", "--locales", DEFAULT_LOCALES.get(country, "sv,en")
        ).split(",")
        if loc.strip()
    ]
    default_locale = ask(args.default_locale, "Default language", "--default-locale", locales[0] if locales else None)
    minimum_age = ask(args.minimum_age, "Minimum age", "--minimum-age", "18")
    group_size = ask(args.group_size, "Group size min-max", "--group-size", "5-8")
    group_min, _, group_max = group_size.partition("-")
    areas = [parse_area(a) for a in args.area] if args.area else []
    if args.area is None and ask.interactive:
        answer = input("Areas, comma separated (empty: none): ").strip()
        areas = [parse_area(a) for a in answer.split(",") if a.strip()]
    match_by_area = bool(args.match_by_area)
    if args.themes_from:
        themes = themes_from(args.themes_from)
    elif args.theme:
        themes = [json.loads(t) for t in args.theme]
    elif ask.interactive:
        source = input("Copy themes from an existing municipality (empty: type them): ").strip()
        themes = themes_from(source) if source else ask_themes(ask, locales)
    else:
        ask.missing.append("--themes-from or --theme")
        themes = []
    consent_version = ask(args.consent_version, "Consent text version", "--consent-version")
    coordinator_phone = ask(args.coordinator_phone, "Coordinator's mobile number (E.164)", "--coordinator-phone")
    controller_email = ask(
        args.controller_email, "Email of the controller (the data-protection contact)", "--controller-email"
    )
    dpo_email = ask(args.dpo_email, "Email of the data protection officer", "--dpo-email")

    location = ask(args.location, "Azure region", "--location", LOCATIONS.get(country, "swedencentral"))
    name_prefix = ask(
        args.name_prefix, "Resource name prefix (2-10 chars)", "--name-prefix", default_prefix(municipality_id)
    )
    sms_sender = ask(
        args.sms_sender, "SMS sender: E.164 number (can receive STOP) or up to 11 letters/digits", "--sms-sender"
    )
    twilio_sid = ask(args.twilio_account_sid, "Twilio Account SID (AC..., empty: later)", "--twilio-account-sid", "")
    deployment: dict[str, Any] = {
        "location": location,
        "namePrefix": name_prefix,
        "smsSender": sms_sender,
        "twilioAccountSid": twilio_sid,
    }
    # Alerts: the coordinator's phone unless told otherwise; Azure Monitor texts Norway, calls Sweden.
    deployment["alertEmail"] = ask(
        args.alert_email, "E-mail for alerts and budget notices (empty: none)", "--alert-email", ""
    )
    deployment["alertPhone"] = ask(
        args.alert_phone, "Phone for alerts, E.164 (empty: none)", "--alert-phone", coordinator_phone or ""
    )
    deployment["alertPhoneBy"] = ask(
        args.alert_phone_by,
        "Reach that phone by sms or voice",
        "--alert-phone-by",
        ALERT_PHONE_BY.get(country, "voice"),
    )
    budget = ask(args.monthly_budget, "Monthly Azure budget (billing currency)", "--monthly-budget", "300")
    deployment["monthlyBudget"] = int(budget) if budget.isdigit() else budget
    for key in ("alertEmail", "alertPhone"):
        if not deployment[key]:
            del deployment[key]
    if args.twilio_messaging_service_sid:
        deployment["twilioMessagingServiceSid"] = args.twilio_messaging_service_sid
    if args.sms_rate_per_second:
        deployment["smsRatePerSecond"] = args.sms_rate_per_second

    organisation = {
        "id": municipality_id,
        "name": name,
        "country": country,
        "locales": locales,
        "default_locale": default_locale,
        "minimum_age": int(minimum_age) if minimum_age.isdigit() else minimum_age,
        "group_size": {
            "min": int(group_min) if group_min.isdigit() else group_min,
            "max": int(group_max) if group_max.isdigit() else group_max,
        },
        "areas": areas,
        "match_by_area": match_by_area,
        "themes": themes,
        "consent_version": consent_version,
        "coordinator_phone": coordinator_phone,
        **national_parts(country, name, locales, controller_email, dpo_email),
    }
    return {"deployment": deployment, "organisation": organisation}


def problems_of(path: Path, document: dict[str, Any]) -> list[str]:
    problems = deploy_params.check_deployment(path, document)
    try:
        parse_organisation(document["organisation"])
    except OrganisationConfigError as exc:
        problems.append(str(exc))
    return problems


def check(paths: list[str]) -> int:
    failed = 0
    for name in paths:
        path = Path(name)
        try:
            problems = problems_of(path, deploy_params.load(path))
        except deploy_params.MunicipalityError as exc:
            problems = [str(exc)]
        print(f"{'ok' if not problems else 'INVALID'}  {path}")
        for problem in problems:
            print(f"  - {problem}")
        failed += bool(problems)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", nargs="+", metavar="FILE", help="only validate existing municipality files")
    parser.add_argument("--output-dir", type=Path, default=deploy_params.MUNICIPALITIES)
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument("--no-input", action="store_true", help="never ask; fail on what the flags leave out")
    org = parser.add_argument_group("organisation")
    org.add_argument("--id")
    org.add_argument("--name")
    org.add_argument("--country", choices=["SE", "NO", "se", "no"])
    org.add_argument("--locales", help="comma separated, e.g. sv,en")
    org.add_argument("--default-locale")
    org.add_argument("--minimum-age")
    org.add_argument("--group-size", help="min-max, e.g. 5-8")
    org.add_argument("--area", action="append", help="an area: Name or id=Name (repeat)")
    org.add_argument("--match-by-area", action="store_true")
    org.add_argument("--themes-from", help="copy the themes of an existing municipality (name or file)")
    org.add_argument(
        "--theme",
        action="append",
        help='a theme as JSON: {"id": ..., "text": {"sv": {"label", "description"}}} (repeat)',
    )
    org.add_argument("--consent-version")
    org.add_argument("--coordinator-phone")
    org.add_argument("--controller-email", help="the controller's contact for the privacy notice")
    org.add_argument("--dpo-email", help="the data protection officer's contact")
    dep = parser.add_argument_group("deployment")
    dep.add_argument("--location")
    dep.add_argument("--name-prefix")
    dep.add_argument("--sms-sender")
    dep.add_argument("--twilio-account-sid")
    dep.add_argument("--twilio-messaging-service-sid")
    dep.add_argument("--sms-rate-per-second")
    dep.add_argument("--alert-email", help="receives alerts and budget notices")
    dep.add_argument("--alert-phone", help="receives alerts (default: the coordinator's phone)")
    dep.add_argument("--alert-phone-by", choices=["sms", "voice"], help="default: sms in Norway, voice in Sweden")
    dep.add_argument("--monthly-budget", help="Azure costs a month that trigger a notice (default 300)")
    args = parser.parse_args(argv)

    if args.check:
        return check(args.check)

    ask = Asker(interactive=not args.no_input and sys.stdin.isatty())
    try:
        document = build(args, ask)
    except (deploy_params.MunicipalityError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ask.missing:
        print(f"error: missing {', '.join(dict.fromkeys(ask.missing))}", file=sys.stderr)
        return 2

    path = args.output_dir / f"{document['organisation']['id']}.json"
    problems = problems_of(path, document)
    if problems:
        print("error: the municipality file would be invalid:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        return 2
    if path.exists() and not args.force:
        print(f"error: {path} exists (--force overwrites it)", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    print(f"next: set twilioAccountSid if still empty, then: infra/deploy.sh {path.stem} --dry-run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
