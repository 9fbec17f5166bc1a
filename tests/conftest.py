"""Shared fixtures: the sandbox emulator in process and on a real loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette

from hostup_ipv6_mcp.sandbox import DEFAULT_KEY, create_app, in_process_transport


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def sandbox_app() -> Starlette:
    """A fresh sandbox with the default keys; faults=[] so $HOSTUP_SANDBOX_FAULTS cannot leak in."""
    return create_app(faults=[])


@pytest.fixture
async def sandbox_client(sandbox_app: Starlette, anyio_backend: str) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client on `sandbox_app` in process, authenticated with DEFAULT_KEY."""
    transport = in_process_transport(sandbox_app)
    headers = bearer(DEFAULT_KEY)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox.test", headers=headers) as client:
        yield client


@dataclass
class LiveSandbox:
    url: str
    app: Starlette


@pytest.fixture(scope="session")
def _live_server() -> Iterator[LiveSandbox]:
    # One uvicorn for the session, in a thread with its own event loop; tests reset it.
    app = create_app(open_accounts=True, faults=[])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race with other tests
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off", date_header=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    yield LiveSandbox(f"http://{host}:{port}", app)
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def live_sandbox(_live_server: LiveSandbox) -> LiveSandbox:
    """The sandbox served by uvicorn on a loopback port (open accounts on), freshly reset."""
    _live_server.app.state.sandbox.reset()
    return _live_server
