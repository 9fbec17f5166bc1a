"""A faithful in-memory emulator of HostUp's routed-IPv6 API, with fault injection.

Reach it in process with `in_process_transport(create_app())`, or on a port with `serve()`.
"""

from hostup_ipv6_mcp.sandbox.app import DEFAULT_KEY, READ_ONLY_KEY, Sandbox, create_app
from hostup_ipv6_mcp.sandbox.runner import serve
from hostup_ipv6_mcp.sandbox.transport import in_process_transport

__all__ = ["DEFAULT_KEY", "READ_ONLY_KEY", "Sandbox", "create_app", "in_process_transport", "serve"]
