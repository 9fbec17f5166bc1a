"""Run the sandbox on a real port with uvicorn (`hostup-ipv6-mcp sandbox --port N`)."""

from __future__ import annotations

import copy
import sys

import uvicorn
import uvicorn.config

from hostup_ipv6_mcp.sandbox.app import DEFAULT_KEY, FAULTS_ENV, OPEN_KEY_PREFIX, READ_ONLY_KEY, create_app


def serve(host: str = "127.0.0.1", port: int = 8765, *, open_accounts: bool = False) -> None:
    """Serve the sandbox until interrupted; every log line goes to stderr."""
    app = create_app(open_accounts=open_accounts)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout may be someone's JSON-RPC
    lines = [
        f"HostUp routed-IPv6 sandbox on http://{host}:{port}  (API under /api/v2/routed-ipv6)",
        f"  API key {DEFAULT_KEY}: read:network read:vm write:network",
        f"  API key {READ_ONLY_KEY}: read:network read:vm (read only)",
    ]
    if open_accounts:
        lines.append(f"  any key starting with {OPEN_KEY_PREFIX}: a fresh account of its own, every scope")
    lines.append(f"  faults: POST /_sandbox/faults (or ${FAULTS_ENV}); log: GET /_sandbox/requests")
    print("\n".join(lines), file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_config=log_config, date_header=False)  # the app sends Date
