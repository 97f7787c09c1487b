"""Azurite, the local Storage emulator from npm, started in memory on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"Azurite did not open port {port}")


class Azurite:
    """Starts `azurite` from node_modules; `connection_string` is what AzureWebJobsStorage takes."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._workspace: str | None = None
        self.ports: dict[str, int] = {}

    @property
    def connection_string(self) -> str:
        endpoints = ";".join(
            f"{kind.capitalize()}Endpoint=http://127.0.0.1:{port}/{ACCOUNT}" for kind, port in self.ports.items()
        )
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};{endpoints};"

    def start(self, timeout: float = 30.0) -> str:
        binary = ROOT / "node_modules" / ".bin" / "azurite"
        if not binary.exists():
            raise RuntimeError("Azurite is not installed: run `npm ci` (make does it for you)")
        self._workspace = tempfile.mkdtemp(prefix="azurite-")
        self.ports = {"blob": free_port(), "queue": free_port(), "table": free_port()}
        args = [str(binary), "--inMemoryPersistence", "--silent", "--loose", "--skipApiVersionCheck"]
        args += ["--disableTelemetry"]
        for kind, port in self.ports.items():
            args += [f"--{kind}Host", "127.0.0.1", f"--{kind}Port", str(port)]
        self._process = subprocess.Popen(
            args,
            cwd=self._workspace,  # where Azurite drops its debug and telemetry files
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + timeout
        try:
            for port in self.ports.values():
                _wait_for(port, deadline)
        except TimeoutError:
            exited = self._process.poll() is not None and self._process.stderr is not None
            error = self._process.stderr.read().decode(errors="replace") if exited else ""  # type: ignore[union-attr]
            self.stop()
            raise RuntimeError(f"Azurite failed to start: {error.strip()[:500]}") from None
        return self.connection_string

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workspace:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
