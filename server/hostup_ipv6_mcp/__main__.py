from hostup_ipv6_mcp.cli import main

main()
