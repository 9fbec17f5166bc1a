"""hostup-ipv6-mcp: an MCP server for HostUp routed IPv6."""

__version__ = "0.1.0"
