"""Everything under the shared coordination directory `.mnemosyne/`.

Locked atomic JSON files, the HMAC secret and signatures, instance identity and liveness, the
process and branch registries, the message queue and git worktrees.
Must not: import from cli/, daemon/ or api/; the API asks this package, never the files.
"""
