"""Shared test plumbing: a server wired to an in-process sandbox, driven over real JSON-RPC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client
from starlette.applications import Starlette

from hostup_ipv6_mcp.config import Settings
from hostup_ipv6_mcp.retry import RetryPolicy
from hostup_ipv6_mcp.sandbox import create_app, in_process_transport
from hostup_ipv6_mcp.server import build_server

# Retries without real waiting, so no test depends on wall-clock speed.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, budget=2.0)


@asynccontextmanager
async def connect(app: Starlette | None = None, **settings: Any) -> AsyncIterator[Client]:
    """An MCP client talking JSON-RPC to a server whose upstream is the given sandbox app."""
    app = app or create_app()
    server = build_server(
        Settings(sandbox=True, **settings), transport=in_process_transport(app), retry=FAST_RETRY
    )
    async with Client(server, mode="legacy") as client:
        yield client


async def call(client: Client, name: str, args: dict[str, Any] | None = None) -> tuple[bool, dict[str, Any]]:
    """(is_error, structured result); checks the text content carries the same JSON."""
    result = await client.call_tool(name, args or {})
    assert result.structured_content is not None, result
    assert json.loads(result.content[0].text) == result.structured_content
    return bool(result.is_error), result.structured_content


async def ok(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    is_error, data = await call(client, name, args)
    assert not is_error, data
    return data


async def problem(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    is_error, data = await call(client, name, args)
    assert is_error, data
    return data


def eligible_vps(state: dict[str, Any]) -> list[str]:
    return [d["vpsId"] for d in state["destinations"] if d["actions"]["canReceiveRoute"]["allowed"]]


def ineligible_vps(state: dict[str, Any]) -> list[str]:
    return [d["vpsId"] for d in state["destinations"] if not d["actions"]["canReceiveRoute"]["allowed"]]


def api_requests(app: Starlette) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in app.state.sandbox.requests]
