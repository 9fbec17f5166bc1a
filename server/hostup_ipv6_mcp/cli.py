"""Command line: `hostup-ipv6-mcp [flags]` serves MCP over stdio (or `--transport http`, see remote.py);
`hostup-ipv6-mcp sandbox` serves the emulator."""

from __future__ import annotations

import argparse
import logging
import sys

from hostup_ipv6_mcp import __version__
from hostup_ipv6_mcp.config import load_settings


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hostup-ipv6-mcp",
        description="MCP server for HostUp routed IPv6. Over stdio the API key comes from HOSTUP_API_KEY only; "
        "over HTTP each request brings its own as Authorization: Bearer.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--sandbox", action="store_true", default=None, help="use the embedded emulator (no account)")
    parser.add_argument("--read-only", action="store_true", default=None, help="offer only the reading tools")
    parser.add_argument("--api-url", help="HostUp base URL (HOSTUP_API_URL)")
    parser.add_argument("--timeout", type=float, help="seconds per HostUp request (HOSTUP_TIMEOUT)")
    parser.add_argument("--log-level", default="WARNING", choices=LOG_LEVELS)
    http = parser.add_argument_group("remote mode (--transport http; see the README)")
    http.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="stdio (default) or http")
    http.add_argument("--host", dest="http_host", metavar="HOST",
                      help="bind address (HOSTUP_HTTP_HOST, default 127.0.0.1)")
    http.add_argument("--port", dest="http_port", type=int, metavar="PORT",
                      help="port (HOSTUP_HTTP_PORT, default 8000)")
    http.add_argument("--workers", type=int, help="worker processes (HOSTUP_WORKERS, default 1)")
    http.add_argument("--allowed-host", dest="allowed_hosts", action="append", metavar="HOST[:PORT]",
                      help="a Host header to accept, repeatable; required off loopback (HOSTUP_ALLOWED_HOSTS)")
    http.add_argument("--allowed-origin", dest="allowed_origins", action="append", metavar="ORIGIN",
                      help="a browser Origin to accept, repeatable (HOSTUP_ALLOWED_ORIGINS)")
    http.add_argument("--allow-server-key", action="store_true", default=None,
                      help="loopback only: use HOSTUP_API_KEY for requests without a key (HOSTUP_ALLOW_SERVER_KEY)")
    http.add_argument("--max-body-bytes", type=int, metavar="BYTES",
                      help="request body cap (HOSTUP_MAX_BODY_BYTES, default 262144)")
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
    # httpcore2 logs raw headers at DEBUG, the Authorization header among them.
    logging.getLogger("httpcore2").setLevel(logging.WARNING)


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
        if args.transport == "http":
            from hostup_ipv6_mcp.remote import load_remote_settings

            remote = load_remote_settings(
                settings, host=args.http_host, port=args.http_port, workers=args.workers,
                allowed_hosts=args.allowed_hosts, allowed_origins=args.allowed_origins,
                allow_server_key=args.allow_server_key, max_body_bytes=args.max_body_bytes,
            )
        if args.transport == "stdio":
            from hostup_ipv6_mcp.server import build_server

            server = build_server(settings)
    except ValueError as error:  # ConfigError, or a bad HOSTUP_SANDBOX_FAULTS
        print(f"hostup-ipv6-mcp: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.transport == "http":
        from hostup_ipv6_mcp.remote import serve as serve_http

        serve_http(settings, remote, args.log_level)
        return
    server.run()
