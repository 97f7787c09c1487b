"""A new instance's first form page: process start → import function_app → the first HTTP event (GET /).

Each measurement runs in a fresh interpreter (`python -m bench.cold` is the child), as a new Flex
Consumption instance does: the host's worker imports function_app to index the functions, then hands
the first HTTP event to the registered function, whose front (shared/web/front.py) serves the form,
then the stylesheet the browser asks for next. The child calls that function with a real
`azure.functions.HttpRequest`, against Azurite (the form counts who is waiting). CPU is the process's
utime + stime (getrusage), threads included.

The child runs what Azure runs: the package infra/package.py builds (our modules with their bytecode,
the web pages' Jinja bytecode), unpacked, first on the path. A second series runs the same package
stripped of both, with PYTHONDONTWRITEBYTECODE set: what an instance paid when it compiled our modules
and pages itself (the package is mounted read-only, so it could not keep them).

The baseline is `import azure.functions` in a fresh interpreter, measured in the same run: the floor
every Python function app pays before any of our code runs.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

# Modules the form must not need: the SMS SDK, the queue SDK and what it pulls in, the operators' and
# the facilitators' pages.
HEAVY = (
    "fastapi",  # the front serves the form and its stylesheet without the web framework
    "starlette.routing",
    "twilio",
    "azure.storage.queue",
    "aiohttp",
    "cryptography",
    "azure.identity",
    "shared.web.admin.api",
    "shared.web.admin.pages",
    "shared.web.admin.replies",
    "shared.web.facilitator",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Context:
    """The parts of the host's invocation context the ASGI middleware reads."""

    invocation_id = "00000000-0000-0000-0000-000000000001"
    function_name = "http_app_func"
    function_directory = "."
    trace_context = None
    retry_context = None
    thread_local_storage = None


def child() -> dict[str, Any]:
    """In the fresh process: time each step of the first form page; returns milliseconds."""
    start_cpu, start_wall = _cpu(), time.perf_counter()
    import function_app

    imported_cpu, imported_wall = _cpu(), time.perf_counter()
    import asyncio

    import azure.functions as func

    [http] = [f for f in function_app.app.get_functions() if f.get_function_name() == "http_app_func"]
    handler = http.get_user_function()
    loop = asyncio.new_event_loop()  # the worker's loop lives as long as the process: never closed here

    def get(route: str = "") -> tuple[int, bytes]:
        request = func.HttpRequest(
            method="GET",
            url="http://localhost/" + route,
            headers={"accept-language": "sv"},
            params={},
            route_params={"route": route},
            body=b"",
        )
        response = loop.run_until_complete(handler(request, _Context()))
        return response.status_code, response.get_body()

    event_cpu, event_wall = _cpu(), time.perf_counter()
    status, body = get()
    served_cpu, served_wall = _cpu(), time.perf_counter()
    if status != 200 or b"<form" not in body:
        raise RuntimeError(f"the first form page answered {status}")
    status, body = get("static/style.css")
    styled_cpu = _cpu()
    if status != 200 or not body:
        raise RuntimeError(f"the stylesheet answered {status}")
    loaded = [m for m in HEAVY if m in sys.modules]
    before_second = _cpu()
    get()
    return {
        "interpreter_cpu": start_cpu * 1000,
        "import_cpu": (imported_cpu - start_cpu) * 1000,
        "import_wall": (imported_wall - start_wall) * 1000,
        "first_event_cpu": (served_cpu - event_cpu) * 1000,
        "first_event_wall": (served_wall - event_wall) * 1000,
        "stylesheet_cpu": (styled_cpu - served_cpu) * 1000,
        "second_event_cpu": (_cpu() - before_second) * 1000,
        "total_cpu": served_cpu * 1000,
        "loaded": loaded,
    }


def _fresh(args: list[str], env: dict[str, str], app: Path | None = None) -> str:
    """Run a fresh interpreter; `app`: an unpacked package, found before the working tree (bench stays there)."""
    from bench.common import ROOT

    path = [str(app), str(ROOT)] if app else [str(ROOT)]
    result = subprocess.run(
        [sys.executable, *args],
        cwd=path[0],  # `python -m` puts the working directory first on the path
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(path), **env},
    )
    if result.returncode != 0:
        raise RuntimeError(f"the fresh process failed: {result.stderr[-2000:]}")
    return result.stdout


def import_cpu_ms(module: str) -> float:
    """CPU milliseconds of one import in a fresh interpreter."""
    code = (
        "import resource\n"
        "def cpu():\n    u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime\n"
        f"c = cpu()\nimport {module}\nprint((cpu() - c) * 1000)\n"
    )
    return float(_fresh(["-c", code], {}).strip())


def first_form_page(env: dict[str, str], app: Path) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(_fresh(["-m", "bench.cold"], env, app).strip().splitlines()[-1])
    return sample


def unpacked_packages(into: Path) -> tuple[Path, Path]:
    """The package infra/package.py builds, unpacked (what Azure runs), and a copy without our modules'
    bytecode and the pages' Jinja bytecode (what it ran before they shipped)."""
    from bench.common import ROOT

    archive = into / "app.zip"
    subprocess.run([sys.executable, "infra/package.py", "--output", str(archive)], cwd=ROOT, check=True)
    shipped, bare = into / "shipped", into / "bare"
    with zipfile.ZipFile(archive) as package:
        package.extractall(shipped)
        package.extractall(bare)
    compiled = [*bare.rglob("__pycache__"), bare / "shared" / "templates" / "compiled"]
    if len(compiled) < 5:
        raise RuntimeError("the package ships no bytecode to leave out")
    for folder in compiled:
        shutil.rmtree(folder)
    return shipped, bare


def cold_rows(connection_string: str, runs: int = 5) -> list[Any]:
    from bench.common import organisation
    from bench.rows import Row

    env = {
        "AzureWebJobsStorage": connection_string,
        "ORGANISATION_CONFIG": json.dumps(organisation()),
        "PHONE_KEY_SECRET": "bench phone key secret, not a real one",
        # Twilio configured, as in production: the form must still not import its SDK.
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_FROM": "+46700000001",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # never called by the form
    }
    with tempfile.TemporaryDirectory() as tmp:
        shipped, bare = unpacked_packages(Path(tmp))
        floor, samples, without = [], [], []
        for _ in range(runs):  # interleaved: the three series see the same load
            floor.append(import_cpu_ms("azure.functions"))
            samples.append(first_form_page(env, shipped))
            without.append(first_form_page({**env, "PYTHONDONTWRITEBYTECODE": "1"}, bare))
    framework = [import_cpu_ms("fastapi") for _ in range(runs)]
    baseline = statistics.median(floor)

    def median(key: str, series: list[dict[str, Any]] = samples) -> float:
        return statistics.median(s[key] for s in series)

    event_cpu = median("first_event_cpu")
    loaded = sorted({m for s in samples for m in s["loaded"]})
    # Issue 22's goal is 250 ms of CPU where `import azure.functions` took 140 ms: 1.8× that floor.
    return [
        Row("import function_app in a fresh interpreter, CPU", median("import_cpu"), "ms", baseline),
        Row(
            "first form page: CPU from the first HTTP event (GET /, served by the front)",
            event_cpu,
            "ms",
            baseline,
            "≤ 1.8× import azure.functions (250 ms where it took 140)",
            event_cpu <= 1.8 * baseline,
        ),
        Row("… the same, wall time (Azurite on loopback)", median("first_event_wall"), "ms"),
        Row(
            "… the same without shipped bytecode (our modules and pages compiled by the instance)",
            median("first_event_cpu", without),
            "ms",
            baseline,
        ),
        Row("… then the stylesheet (GET /static/style.css), CPU", median("stylesheet_cpu"), "ms"),
        Row(
            "importing fastapi alone (fresh interpreter; no longer on the form's path)",
            statistics.median(framework),
            "ms",
            baseline,
        ),
        Row("process start → first form page, CPU (interpreter, import, first event)", median("total_cpu"), "ms"),
        Row("second GET /, CPU", median("second_event_cpu"), "ms"),
        Row(
            f"web framework, SDKs and operator/facilitator modules loaded by the form and its stylesheet "
            f"({', '.join(loaded) or 'none'})",
            len(loaded),
            "",
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(child()))
    sys.stdout.flush()
    os._exit(0)  # as a worker that is stopped: no lifespan shutdown to wait for
