"""Official MCP client SDKs (test dependencies) against `mnemosyne mcp`."""
