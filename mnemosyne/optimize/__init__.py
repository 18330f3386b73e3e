"""Memory upkeep: context packs for agents, duplicate merging and decay (pure rules).

Must not: import from cli/ or daemon/; the SQL lives in store/maintenance.py.
"""
