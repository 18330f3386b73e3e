"""The Model Context Protocol server: JSON-RPC framing, tools, prompts, and the stdio loop.

`server.McpServer.handle(message, session)` is the one entry point every transport calls
(stdio here; Streamable HTTP on the API). The package sits beside `api/`: it uses the store and
the coordination directory and knows nothing of processes, signals or HTTP.
Must not: import from cli/, daemon/, api/ or doctor/.
"""
