"""The processes the benchmarks talk to: an MCP server over stdio, spoken to in raw JSON-RPC lines
(no client library between the clock and the pipe), and the sandbox emulator on a loopback port."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = "2025-11-25"
INITIALIZE = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}


class StdioPeer:
    """One server process; `request` sends a JSON-RPC request and waits for its answer."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, stderr: Any = subprocess.DEVNULL) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, bufsize=0
        )
        self._fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        self._buffer = b""
        self._ids = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._ids += 1
        self.write({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}})
        return self._ids

    def notify(self, method: str) -> None:
        self.write({"jsonrpc": "2.0", "method": method})

    def write(self, message: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")  # type: ignore[union-attr]

    def read_line(self, timeout: float = 60.0) -> bytes:
        """The next line from stdout, without decoding it (timed callers parse afterwards)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                raise TimeoutError("the server did not answer in time")
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                raise EOFError("the server closed stdout")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        wanted = self.send(method, params)
        while (message := json.loads(self.read_line())).get("id") != wanted:
            pass
        return message

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """A tool's structured result; raises on a JSON-RPC error or an isError result."""
        message = self.request("tools/call", {"name": tool, "arguments": arguments or {}})
        result = message.get("result")
        if result is None or result.get("isError"):
            raise RuntimeError(f"{tool} failed: {json.dumps(message)[:500]}")
        return result["structuredContent"]

    def handshake(self) -> dict[str, Any]:
        result = self.request("initialize", INITIALIZE)["result"]
        self.notify("notifications/initialized")
        return result

    def peak_rss_kib(self) -> int:
        """VmHWM: the most resident memory the process has used so far."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]

    def close(self) -> None:
        """End as a client would: close stdin and let the server exit on its own."""
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()  # type: ignore[union-attr]

    def __enter__(self) -> StdioPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


OURS = python("-m", "hostup_ipv6_mcp")
BARE = python(str(ROOT / "bench" / "bare_server.py"))


class SandboxProcess:
    """`hostup-ipv6-mcp sandbox --port 0` in a subprocess; the port is read from uvicorn's log."""

    def __init__(self) -> None:
        # stderr goes to a file: uvicorn logs every request there, and a full pipe would stall it.
        self._log = tempfile.NamedTemporaryFile(prefix="bench-sandbox-", suffix=".log")
        self.proc = subprocess.Popen(
            python("-m", "hostup_ipv6_mcp", "sandbox", "--port", "0"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
        )
        deadline = time.monotonic() + 60
        while not (found := re.search(rb"running on http://127\.0\.0\.1:(\d+)", Path(self._log.name).read_bytes())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(found.group(1))}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
