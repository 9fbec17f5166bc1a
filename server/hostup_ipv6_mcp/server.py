"""The MCP server: publishes the tools from `tools.py` and turns every outcome into a tool result.

Tools are listed and called here rather than through the SDK's tool manager, because the SDK
drops unknown arguments, coerces "7" to 7 and reports bad arguments as plain text; the agent
instead gets a problem whose pointers name each bad argument, before anything is sent upstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult, TextContent
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, ValidationError

from hostup_ipv6_mcp import __version__, prompts, resources
from hostup_ipv6_mcp.client import HostUpClient, open_http
from hostup_ipv6_mcp.config import Settings
from hostup_ipv6_mcp.models import Problem, input_schema, outcome_schema
from hostup_ipv6_mcp.problems import ProblemError, server_problem
from hostup_ipv6_mcp.retry import RetryPolicy
from hostup_ipv6_mcp.tools import TOOLS, ToolSpec

logger = logging.getLogger("hostup_ipv6_mcp")

SANDBOX_URL = "https://sandbox.hostup.invalid"
INSTRUCTIONS = """\
Manages HostUp routed IPv6: one /48 pool per account, routed to VPSs as /48, /56 or /64 subnets.
Safe order: list_routed_ipv6 first; take poolId, vpsId and routeId only from its answer, never guess.
Before create_route, call plan_route with the same arguments; create only when it says ok.
Read actions.* gates and their reason before any write. Deleting and releasing are destructive: ask first.
Failures are problems: branch on `code`. invalid_request: fix the argument at errors[].pointer.
missing_api_key: tell the user how to set HOSTUP_API_KEY. not_applied: nothing changed, retry is safe.
outcome_unknown: do not retry; call list_routed_ipv6 and check as the detail says.
Problems with "source": "hostup-ipv6-mcp" come from this server; others are HostUp's own."""

# A hostile call can name thousands of unknown arguments; the problem stays small.
MAX_ERRORS = 20
# pydantic error types -> stable codes in errors[]
ERROR_CODES = {
    "missing": "missing_required",
    "extra_forbidden": "unknown_argument",
    "literal_error": "invalid_value",
    "string_pattern_mismatch": "invalid_format",
    "string_too_long": "invalid_length",
    "string_too_short": "invalid_length",
}


@dataclass
class Runtime:
    """What lives for the whole process: the settings and the one HTTP connection pool."""

    settings: Settings
    open_pool: Callable[[], httpx2.AsyncClient]
    retry: RetryPolicy
    _http: httpx2.AsyncClient | None = None

    @property
    def http(self) -> httpx2.AsyncClient:
        # Opened on first use: building its TLS context would otherwise delay `initialize`.
        if self._http is None:
            self._http = self.open_pool()
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def hostup(self, api_key: str | None) -> HostUpClient:
        if api_key is None:
            raise server_problem(
                "missing_api_key",
                "No HostUp API key is set. Create one in HostUp's control panel with the scopes read:network "
                "and read:vm (and write:network for changes), then set HOSTUP_API_KEY in the MCP server's "
                "environment (in Claude Desktop: the extension's settings or the config's env block) and "
                "restart it. To try everything offline, start the server with --sandbox instead.",
            )
        return HostUpClient(self.http, api_key, timeout=self.settings.timeout, retry=self.retry)


def _pointer(loc: tuple[Any, ...]) -> str:
    # RFC 6901 escaping; very long names (hostile input) are cut so the problem stays small.
    return "".join("/" + str(part)[:100].replace("~", "~0").replace("/", "~1") for part in loc)


def invalid_arguments(spec: ToolSpec, error: ValidationError) -> ProblemError:
    items = []
    entries = error.errors(include_input=False, include_url=False)
    for entry in entries[:MAX_ERRORS]:
        code = ERROR_CODES.get(entry["type"], entry["type"])
        if code.endswith("_type") or code.endswith("_parsing"):
            code = "invalid_type"
        detail = entry["msg"]
        if code == "unknown_argument":
            detail = f"Unknown argument. {spec.name} takes: {', '.join(spec.input.model_fields) or 'no arguments'}."
        elif entry["loc"] and (field := spec.input.model_fields.get(str(entry["loc"][0]))) and field.description:
            detail = f"{detail}. {field.description}"
        items.append({"pointer": _pointer(entry["loc"]), "detail": detail, "code": code})
    if len(entries) > MAX_ERRORS:
        items.append({"pointer": "", "detail": f"...and {len(entries) - MAX_ERRORS} more.", "code": "too_many_errors"})
    return server_problem(
        "invalid_request",
        f"{spec.name} was called with invalid arguments; nothing was sent to HostUp. Fix each one in errors[].",
        errors=items,
    )


def tool_result(result: BaseModel, *, is_error: bool = False) -> CallToolResult:
    """The same JSON twice: structured, and as text for clients that show only text."""
    text = result.model_dump_json(exclude_none=True)
    structured = result.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured, is_error=is_error)


class RoutedIPv6Server(MCPServer[Runtime]):
    def __init__(
        self, settings: Settings, caller_key: Callable[[], str | None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(
            "hostup-ipv6-mcp", version=__version__, instructions=INSTRUCTIONS, **kwargs
        )
        self.config = settings  # not `settings`: MCPServer keeps its own under that name
        # Remote mode reads the key of the HTTP request being served; None over stdio.
        self.caller_key = caller_key

    def visible_tools(self) -> list[ToolSpec]:
        # In read-only mode the write tools are not offered at all, so agents do not plan with them.
        return [spec for spec in TOOLS.values() if not (self.config.read_only and spec.writes)]

    async def list_tools(self) -> list[MCPTool]:
        return [
            MCPTool(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                input_schema=input_schema(spec.input),
                output_schema=outcome_schema(spec.output),
                annotations=spec.annotations,
            )
            for spec in self.visible_tools()
        ] + await super().list_tools()

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Runtime, Any] | None = None
    ) -> CallToolResult:
        started = time.perf_counter()
        try:
            result = tool_result(await self._run(name, arguments, context))
        except ProblemError as error:
            result = tool_result(error.problem, is_error=True)
        except Exception:
            # The traceback stays in the server's log (it never holds the key: headers are not in it).
            logger.exception("tool %s failed unexpectedly", name)
            problem = server_problem(
                "internal_error",
                "The server hit an unexpected error; the state is unchanged unless list_routed_ipv6 shows "
                "otherwise. Report this if it persists.",
            ).problem
            result = tool_result(problem, is_error=True)
        code = (result.structured_content or {}).get("code", "ok") if result.is_error else "ok"
        # %r: the name is the caller's text, and must not be able to forge log lines.
        logger.info("tool %r -> %s in %.1f ms", name[:64], code, (time.perf_counter() - started) * 1000)
        return result

    async def _run(self, name: str, arguments: dict[str, Any], context: Context[Runtime, Any] | None) -> BaseModel:
        spec = TOOLS.get(name)
        if spec is not None and spec.writes and self.config.read_only:
            raise server_problem(
                "read_only_mode",
                f"{name} changes HostUp state, and this server runs read-only (HOSTUP_READ_ONLY). "
                "Use list_routed_ipv6 or plan_route, or ask the user to turn read-only mode off.",
            )
        if spec is None:
            raise server_problem(
                "unknown_tool", f"No tool {name[:64]!r}. Tools: {', '.join(s.name for s in self.visible_tools())}."
            )
        try:
            args = spec.input.model_validate(arguments)
        except ValidationError as error:
            raise invalid_arguments(spec, error) from None
        runtime: Runtime = context.request_context.lifespan_context  # type: ignore[union-attr]
        return await spec.run(runtime.hostup(self.api_key()), args)

    async def list_resources(self) -> list[MCPResource]:
        return resources.RESOURCES + await super().list_resources()

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        return resources.TEMPLATES + await super().list_resource_templates()

    async def read_resource(self, uri: Any, context: Context[Runtime, Any] | None = None) -> Any:
        if not resources.is_ours(str(uri)):
            return await super().read_resource(uri, context)
        runtime: Runtime = context.request_context.lifespan_context  # type: ignore[union-attr]
        try:
            text = await resources.read(runtime.hostup(self.api_key()), str(uri))
        except ProblemError as error:
            # Resource reads have no error result: the problem travels as the error's message.
            raise ResourceError(error.problem.model_dump_json(exclude_none=True)) from None
        return [ReadResourceContents(content=text, mime_type=resources.MIME)]

    def api_key(self) -> str | None:
        """The HostUp key this call acts with: over HTTP the caller's own, for this request only."""
        if self.caller_key is not None and (key := self.caller_key()) is not None:
            return key
        if self.config.sandbox:
            # The sandbox has keys of its own; a real HostUp key set alongside is never sent to it.
            from hostup_ipv6_mcp.sandbox import DEFAULT_KEY

            return DEFAULT_KEY
        return self.config.api_key


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    caller_key: Callable[[], str | None] | None = None,
) -> RoutedIPv6Server:
    """The server for these settings. `transport` replaces the network (tests, the sandbox);
    `caller_key` gives each call's own key (remote mode), ahead of the server-wide one."""

    base_url = settings.api_url
    if settings.sandbox:
        # Imported only in sandbox mode: the emulator is not needed to talk to HostUp. Built here,
        # not in the lifespan, so a bad HOSTUP_SANDBOX_FAULTS stops the start with a clear message.
        from hostup_ipv6_mcp.sandbox import create_app, in_process_transport

        transport, base_url = transport or in_process_transport(create_app()), SANDBOX_URL

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        runtime = Runtime(settings, lambda: open_http(base_url, settings.timeout, transport), retry or RetryPolicy())
        try:
            yield runtime
        finally:
            await runtime.aclose()

    server = RoutedIPv6Server(settings, caller_key, lifespan=lifespan)
    if not settings.read_only:  # both prompts lead to write tools
        prompts.register(server)
    return server
