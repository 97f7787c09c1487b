"""A peak day (issue 15, item 3): N people register and verify over a span, as `make dev` runs.

The dev server (`python -m shared.local.dev`: the app, and formation and notify in-process under
host.json's queue rules) sends through the real twilio SDK to the loopback Twilio server, where
the bench reads each verification code. Arrivals are open-loop: every person presses "register"
at a time drawn before the run (uniform over the span, seeded), whether or not earlier requests
have been answered, then types the code a few seconds after it arrives. A slow server therefore
shows as latency, not as a politely slower client.

With `path="form"` (part `peakform`) each person goes through the resident's HTML form instead of the
JSON API, as a browser without JavaScript does: POST / (the form), then POST /verify (the code page's
form), reading the interest's id and token from the hidden fields. That is the path residents use, and
it is the one that once ran on the event loop (issue 18). The server then runs as one Flex instance
does at the templates' HTTP concurrency (issue 22 item 4): at most `httpPerInstanceConcurrency` requests
at once, from the municipality file whose organisation the bench uses, the rest queued
(shared/local/concurrency.py); and the server's CPU over the crowd's run is divided by the people.

Baselines from the same run, before the peak starts: the same requests one at a time on the idle
server, and the same fifth-verification-to-last-invitation delay for two groups formed on it.
Afterwards the bench waits until the queues are empty and no text is pending, then checks every
verified person against the table and the texts the SMS server accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import counted_services, cpu_seconds, env_for, fresh, organisation, peak_rss_mib, percentile
from bench.rows import Row
from shared.core.organisation import MUNICIPALITIES
from shared.local.azurite import Azurite, free_port
from shared.local.concurrency import ENV as CONCURRENCY_ENV
from shared.local.concurrency import templates_concurrency

CODE_TEXT = re.compile(r"^\d{6}\b")  # the verification text starts with the code, in every locale
BASELINE_THEMES = 2  # themes of their own for the idle baseline, five people each: one group apiece
THINK_SECONDS = (2.0, 10.0)  # from the code arriving to pressing "verify"
CLIENT_ADDRESSES = 64
PATHS = ("api", "form")
_HIDDEN = re.compile(r'<input type="hidden" name="(id|withdraw_token|last_digits)" value="([^"]*)"')


@dataclass
class Person:
    theme: str
    phone: str  # as typed in the form
    due: float  # seconds after the start, when they press "register"
    think: float
    area: str | None = None  # None: drawn from the number (the crowd spreads over the areas)
    interest_id: str = ""
    hidden: dict[str, str] = field(default_factory=dict)  # the code page's hidden fields (form path)
    verified_at: float | None = None  # wall clock (time.time) when the verify answer (200) arrived
    failure: str = ""

    @property
    def e164(self) -> str:
        return "+46" + self.phone[1:]


@dataclass
class Text:
    at: float  # wall clock when the SMS server accepted it: comparable with the rows' times (same machine)
    to: str
    body: str
    sid: str


@dataclass
class Run:
    """What the clients saw: each request (kind, HTTP status or 0 for no answer, seconds, start lag)."""

    requests: list[tuple[str, int, float, float]] = field(default_factory=list)
    path: str = "api"
    texts: list[Text] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, asyncio.Future] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    def on_accept(self, message: Any) -> None:  # the loopback server's thread
        text = Text(time.time(), message.to or "", message.body or "", message.sid or "")
        with self.lock:
            self.texts.append(text)
        match = CODE_TEXT.match(text.body)
        future = self.codes.get(text.to)
        if match and future is not None and self.loop is not None:
            code = match.group(0)
            self.loop.call_soon_threadsafe(lambda: None if future.done() else future.set_result(code))


async def _request(
    run: Run, kind: str, http: httpx.AsyncClient, url: str, body: dict, lag: float
) -> httpx.Response | None:
    start = time.perf_counter()
    try:
        if run.path == "form":
            response = await http.post(url, data=body)  # application/x-www-form-urlencoded, as a browser posts
        else:
            response = await http.post(url, json=body)
    except httpx.HTTPError:
        run.requests.append((kind, 0, time.perf_counter() - start, lag))
        return None
    run.requests.append((kind, response.status_code, time.perf_counter() - start, lag))
    return response


async def _person(run: Run, http: httpx.AsyncClient, person: Person, start: float, areas: list[str]) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start + person.due - time.perf_counter()))
    lag = time.perf_counter() - (start + person.due)
    run.codes[person.e164] = loop.create_future()
    form = run.path == "form"
    area = person.area or (areas[int(person.phone) % len(areas)] if areas else None)
    name = f"Person {person.phone[-4:]}"
    if form:
        body: dict[str, Any] = {"locale": "sv", "theme": person.theme, "name": name, "phone": person.phone}
        body |= {"area": area or "", "age_confirmed": "on", "consent": "on", "pledge": "on", "website": ""}
    else:
        body = {"theme": person.theme, "name": name, "phone": person.phone, "area": area}
        body |= {"age_confirmed": True, "consent": True}
    created = await _request(run, "register", http, "/" if form else "/api/interests", body, lag)
    if created is None or created.status_code != (200 if form else 201):
        person.failure = f"register {created.status_code if created else 'no answer'}"
        return
    if form:
        person.hidden = {name: html.unescape(value) for name, value in _HIDDEN.findall(created.text)}
        if set(person.hidden) != {"id", "withdraw_token", "last_digits"}:
            person.failure = "register: no code page"
            return
        person.interest_id = person.hidden["id"]
    else:
        person.interest_id = created.json()["id"]
    try:
        code = await asyncio.wait_for(run.codes[person.e164], timeout=60)
    except TimeoutError:
        person.failure = "no code within 60 s"
        return
    await asyncio.sleep(person.think)
    if form:
        verified = await _request(run, "verify", http, "/verify", {**person.hidden, "code": code}, 0.0)
        if verified is not None and verified.status_code == 200 and 'name="code"' in verified.text:
            person.failure = "verify: the code page again"  # 200 with the code page means the code was refused
            return
    else:
        url = f"/api/interests/{person.interest_id}/verify"
        verified = await _request(run, "verify", http, url, {"code": code}, 0.0)
    if verified is None or verified.status_code != 200:
        person.failure = f"verify {verified.status_code if verified else 'no answer'}"
        return
    person.verified_at = time.time()


def _schedule(people: int, minutes: float, themes: list[str], seed: int) -> list[Person]:
    rng = random.Random(seed)
    span = minutes * 60
    dues = sorted(rng.uniform(0, span) for _ in range(people))
    return [
        Person(rng.choice(themes), f"070{1_000_000 + i:07d}", due, rng.uniform(*THINK_SECONDS))
        for i, due in enumerate(dues)
    ]


def _settle(services: Any, timeout: float) -> float:
    """Wait until no formation request or text is queued and no outbox row is pending; seconds waited."""
    from shared.adapters.storage import INTERESTS, QUEUES

    started = time.perf_counter()
    quiet = 0
    while time.perf_counter() - started < timeout:
        queued = sum(services.storage.queue(q).get_queue_properties().approximate_message_count for q in QUEUES)
        unsent = services.storage.table(INTERESTS).query_entities(
            "Kind eq 'outbox' and (Status eq 'pending' or Status eq 'sending')", select=["RowKey"]
        )
        quiet = quiet + 1 if queued == 0 and next(iter(unsent), None) is None else 0
        if quiet >= 3:  # three quiet looks a second apart: host.json polls at most a second apart
            break
        time.sleep(1)
    return time.perf_counter() - started


def _invite_delays(
    groups: list[Any], people_by_key: dict[tuple[str, str], Person], invites: dict[str, list[float]], min_size: int
) -> tuple[list[float], list[float], list[float]]:
    """Per group: from the min_size-th verification among its members (the one that let it form) to the
    last invitation the SMS server accepted for those first members, and to the group's commit (its
    FormedAt). Per member: from the moment they could be invited (that verification, or their own when
    they joined later) to their invitation."""
    import json

    groups_delays, member_delays, formed_delays = [], [], []
    for group in groups:
        members = [
            people_by_key.get((group["PartitionKey"], key)) for key in json.loads(group.get("MemberKeys") or "[]")
        ]
        verified = sorted((p for p in members if p and p.verified_at), key=lambda p: p.verified_at or 0)
        if len(verified) < min_size:
            continue
        fifth = verified[min_size - 1].verified_at or 0.0
        founders = verified[:min_size]
        last = [max(invites[p.e164]) for p in founders if invites.get(p.e164)]
        groups_delays.append(max(last) - fifth if len(last) == len(founders) else float("inf"))
        if group.get("FormedAt"):
            formed_delays.append(group["FormedAt"].timestamp() - fifth)
        for p in verified:
            ready = max(fifth, p.verified_at or 0.0)
            member_delays.append(min(invites[p.e164]) - ready if invites.get(p.e164) else float("inf"))
    return groups_delays, member_delays, formed_delays


async def _drive(run: Run, base: str, people: list[Person], areas: list[str]) -> float:
    """Everyone at their time, from CLIENT_ADDRESSES loopback addresses: residents come from many
    addresses, and in dev mode the app keys its per-client cap on the socket's address (it trusts
    X-Forwarded-For only in Azure), so one address for all would make them race for one counter."""
    run.loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base,
                    timeout=60,
                    transport=httpx.AsyncHTTPTransport(
                        local_address=f"127.0.{k // 250}.{k % 250 + 2}",
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    ),
                )
            )
            for k in range(CLIENT_ADDRESSES)
        ]
        start = time.perf_counter() + 1.0  # the schedule starts once every client is built
        await asyncio.gather(*(_person(run, clients[i % len(clients)], p, start, areas) for i, p in enumerate(people)))
        return time.perf_counter() - start


def _baseline(run: Run, base: str, people: list[Person], areas: list[str]) -> None:
    """One at a time on the idle server."""

    async def one_by_one() -> None:
        run.loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for p in people:
                await _person(run, http, p, time.perf_counter(), areas)

    asyncio.run(one_by_one())


def peak(
    azurite: Azurite,
    people: int = 2000,
    minutes: float = 10.0,
    themes: int = 10,
    drain: float = 180.0,
    seed: int = 15,
    path: str = "api",
) -> list[Row]:
    from shared.adapters.storage import INTERESTS
    from shared.core.domain import JOINABLE, split_interest_id
    from tests.support.twilio_server import LoopbackTwilio

    doc = organisation(themes + BASELINE_THEMES)
    peak_themes = [t["id"] for t in doc["themes"][:themes]]
    areas = [a["id"] for a in doc["areas"]]
    min_size, max_size = doc["group_size"]["min"], doc["group_size"]["max"]
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}")
    run = Run(path=path)
    # The form's run: one instance at the HTTP concurrency the templates give this municipality (8 in
    # Region Jönköping's file, the organisation `organisation()` reads; main.bicep's default otherwise).
    concurrency = templates_concurrency(MUNICIPALITIES / "region-jonkoping.json") if path == "form" else None
    with LoopbackTwilio(on_accept=run.on_accept) as twilio:
        env = env_for(
            azurite.connection_string,
            doc,
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM="+46700000001",
            TWILIO_API_BASE_URL=twilio.base_url,
        )  # SMS_RATE_PER_SECOND as deployed (the settings' default)
        if concurrency is not None:
            env[CONCURRENCY_ENV] = str(concurrency)
        services, _ = counted_services(env)
        fresh(services)
        port = free_port()
        from bench.common import server_process

        with server_process(["-m", "shared.local.dev"], env, port) as process:
            base = f"http://127.0.0.1:{port}"
            admin = {"authorization": "Bearer bench-admin-token"}
            for i in range(people // (5 * 20) + 3):  # room for every group at capacity 20 each
                httpx.post(
                    f"{base}/api/admin/facilitators",
                    headers=admin,
                    json={"name": f"Bench {i}", "phone": f"+4670290{i:04d}", "locales": ["sv", "en"], "capacity": 20},
                    timeout=30,
                ).raise_for_status()

            # One area per baseline group: the organisation matches by area, and five people spread over
            # its areas would never make a group (the idle baseline of the invitation rows stayed empty).
            idle = [
                Person(
                    doc["themes"][themes + g]["id"],
                    f"070{2_000_000 + g * 10 + p:07d}",
                    0.0,
                    0.0,
                    area=areas[0] if areas else None,
                )
                for g in range(BASELINE_THEMES)
                for p in range(min_size)
            ]
            _baseline(run, base, idle, areas)
            deadline = time.perf_counter() + 30  # their invitations, before the crowd arrives
            while time.perf_counter() < deadline:
                with run.lock:
                    invited = {t.to for t in run.texts if not CODE_TEXT.match(t.body)}
                if all(p.e164 in invited for p in idle):
                    break
                time.sleep(0.1)
            # The first two people warm the server up (lazy imports, first connections): not in the baseline.
            idle_requests = [seconds for _, status, seconds, _ in run.requests[4:] if 200 <= status < 300]
            run.requests.clear()

            crowd = _schedule(people, minutes, peak_themes, seed)
            print(f"    {people} people over {minutes:g} min across {themes} themes", file=sys.stderr, flush=True)
            cpu = cpu_seconds(process.pid)
            offered = asyncio.run(_drive(run, base, crowd, areas))
            settled = _settle(services, drain)
            cpu = cpu_seconds(process.pid) - cpu  # the crowd's requests, its formation and its texts
            rss = peak_rss_mib(process.pid)

    rows = services.storage.table(INTERESTS).list_entities()
    interests: dict[tuple[str, str], Any] = {}
    groups: list[Any] = []
    outbox: list[Any] = []
    for row in rows:
        kind = row.get("Kind")
        if kind == "interest":
            interests[(row["PartitionKey"], row["RowKey"])] = row
        elif kind == "group":
            groups.append(row)
        elif kind == "outbox":
            outbox.append(row)

    invites: dict[str, list[float]] = defaultdict(list)
    for text in run.texts:
        if not CODE_TEXT.match(text.body):
            invites[text.to].append(text.at)
    everyone = idle + crowd
    by_key = {key: p for p in everyone if (key := split_interest_id(p.interest_id))}

    # Who should be in a group: every verified person, unless their matching bucket's queue is too short
    # for a new group and every joinable group in it is full. A bucket is the theme, and the area too when
    # the organisation matches by area (no one waits past area_wait_days within a run, so none widens).
    by_area = bool(doc.get("match_by_area"))

    def bucket(theme: str, area: object) -> tuple[str, str]:
        return theme, (str(area or "") if by_area else "")

    waiting = Counter(bucket(k[0], r.get("Area")) for k, r in interests.items() if r.get("Status") == "waiting")
    joinable_open = {
        bucket(g["PartitionKey"], g.get("Area"))
        for g in groups
        if g.get("Status") in {s.value for s in JOINABLE} and int(g.get("MemberCount", 0)) < max_size
    }
    lost = 0
    for p in crowd:
        if p.verified_at is None:
            continue
        found = interests.get(split_interest_id(p.interest_id) or ("", ""))
        status = found.get("Status") if found else None
        place = bucket(p.theme, found.get("Area") if found else None)
        if status == "waiting" and waiting[place] < min_size and place not in joinable_open:
            continue  # rightly still waiting
        if status != "grouped" or not invites.get(p.e164):
            lost += 1
    members_twice = sum(1 for p in everyone if len(invites.get(p.e164, [])) > 1)
    rosters = Counter((r["RecipientId"], r["GroupKey"]) for r in outbox if r.get("MessageKind") == "roster")
    rosters_twice = sum(1 for n in rosters.values() if n > 1)
    recorded = {r.get("ProviderSid") for r in outbox if r.get("ProviderSid")}
    outbox_texts = [t for t in run.texts if not CODE_TEXT.match(t.body)]
    sent_twice = len(outbox_texts) - len({t.sid for t in outbox_texts} & recorded)

    peak_groups = [g for g in groups if g["PartitionKey"] in set(peak_themes)]
    idle_groups = [g for g in groups if g["PartitionKey"] not in set(peak_themes)]
    delays, own, formed = _invite_delays(peak_groups, by_key, invites, min_size)
    idle_delays, _, idle_formed = _invite_delays(idle_groups, by_key, invites, min_size)

    latencies = [seconds for _, _, seconds, _ in run.requests]
    errors = sum(1 for _, status, _, _ in run.requests if status == 0 or status >= 500)
    rejected = sum(1 for _, status, _, _ in run.requests if 400 <= status < 500)
    lags = [lag for kind, _, _, lag in run.requests if kind == "register"]
    verified = sum(1 for p in crowd if p.verified_at)
    failures = Counter(p.failure for p in crowd if p.failure)
    print(
        f"    offered in {offered:.0f} s, settled {settled:.0f} s later; {verified} of {people} verified"
        f"{', failures: ' + str(dict(failures)) if failures else ''}; {len(peak_groups)} groups;"
        f" {len(run.texts)} texts; {rejected} requests answered 4xx; waiting at the end {sum(waiting.values())}",
        file=sys.stderr,
        flush=True,
    )
    idle_p50 = percentile(idle_requests, 50)
    through = "through the form (POST / and /verify)" if path == "form" else "through the JSON API"
    if concurrency is not None:
        through += f" at {concurrency} requests at once (httpPerInstanceConcurrency)"
    label = f"peak {through}: {people:,} people over {minutes:g} min, {themes} themes"
    p95_invite = percentile(delays, 95)
    return [
        Row(
            f"{label} — request latency p50 (vs idle, one at a time)",
            percentile(latencies, 50) * 1000,
            "ms",
            idle_p50 * 1000,
        ),
        Row(
            "… request latency p95 (vs idle p95)",
            percentile(latencies, 95) * 1000,
            "ms",
            percentile(idle_requests, 95) * 1000,
        ),
        Row(
            "… request latency p99 (vs idle p95)",
            percentile(latencies, 99) * 1000,
            "ms",
            percentile(idle_requests, 95) * 1000,
        ),
        Row(f"… requests answered 5xx or not at all, of {len(run.requests):,}", errors, "", None, "0", errors == 0),
        Row(
            f"… requests answered 4xx (a resident turned away), of {len(run.requests):,}",
            rejected,
            "",
            None,
            "0",
            rejected == 0,
        ),
        Row("… client start lag p99 (open loop: sent − scheduled)", percentile(lags, 99) * 1000, "ms"),
        Row(
            f"… fifth verification → last invitation of those five, p95 of {len(delays)} groups (vs idle)",
            p95_invite,
            "s",
            max(idle_delays) if idle_delays else None,
            "< 5 s",
            p95_invite < 5.0,
        ),
        Row(
            "… of which fifth verification → the group committed (its FormedAt), p95 (vs idle)",
            percentile(formed, 95),
            "s",
            max(idle_formed) if idle_formed else None,
        ),
        Row(
            f"… could be invited (group complete, or joining one) → own invitation, p95 of {len(own):,} members",
            percentile(own, 95),
            "s",
        ),
        Row(f"… verified people without their invitation (lost), of {verified:,}", lost, "", None, "0", lost == 0),
        Row("… texts sent twice for one outbox row", sent_twice, "", None, "0", sent_twice == 0),
        Row(
            "… members invited twice, rosters twice for one group",
            members_twice + rosters_twice,
            "",
            None,
            "0",
            members_twice + rosters_twice == 0,
        ),
        Row(f"… peak RSS of the app server after {people:,} people", rss, "MiB"),
        Row(
            "… server CPU per resident over the run (utime+stime ÷ people: register, verify, formation, texts)",
            cpu / people * 1000,
            "ms",
        ),
    ]
