"""Command line: `hostup-ipv6-mcp [flags]` serves MCP over stdio; `hostup-ipv6-mcp sandbox` serves the emulator."""

from __future__ import annotations

import argparse
import logging
import sys

from hostup_ipv6_mcp import __version__
from hostup_ipv6_mcp.config import ConfigError, load_settings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hostup-ipv6-mcp",
        description="MCP server for HostUp routed IPv6. The API key comes from HOSTUP_API_KEY only.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--sandbox", action="store_true", default=None, help="use the embedded emulator (no account)")
    parser.add_argument("--read-only", action="store_true", default=None, help="offer only the reading tools")
    parser.add_argument("--api-url", help="HostUp base URL (HOSTUP_API_URL)")
    parser.add_argument("--timeout", type=float, help="seconds per HostUp request (HOSTUP_TIMEOUT)")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command")
    sandbox = commands.add_parser("sandbox", help="serve the sandbox emulator over HTTP (for curl, tests)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--open-accounts", action="store_true", help="any sbx_* key gets its own account")
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    # stdout carries JSON-RPC only; every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("hostup_ipv6_mcp").setLevel(level)
    # httpx2 logs each request at INFO; the tool log line already says what happened.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "sandbox":
        from hostup_ipv6_mcp.sandbox import serve

        serve(args.host, args.port, open_accounts=args.open_accounts)
        return
    try:
        settings = load_settings(
            api_url=args.api_url, read_only=args.read_only, sandbox=args.sandbox, timeout=args.timeout
        )
    except ConfigError as error:
        print(f"hostup-ipv6-mcp: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    from hostup_ipv6_mcp.server import build_server

    build_server(settings).run()
