"""The HTTP API of one instance: health, memories, live events (SSE) and the web dashboard.

Layout: ports.py binds the listening socket (with the fallback over PORT..PORT+10),
events.py is the per-instance event hub (ring buffer + subscribers), sse.py streams it,
health.py answers /health, routes.py is the CherryPy application for everything else,
front.py puts the hot paths in front of CherryPy, server.py runs it all on cheroot.
Must not: touch files under .mnemosyne/ itself (it asks coord through the daemon).
"""
