"""A repository with instance branches, made with real git."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_git


def commit_file(repo: Path, branch: str, name: str, text: str) -> str:
    """Commit *name* with *text* on *branch* (made from main if new); return the commit id."""
    if not run_git("branch", "--list", branch, cwd=repo).strip():
        run_git("branch", branch, "main", cwd=repo)
    run_git("checkout", "-q", branch, cwd=repo)
    (repo / name).write_text(text)
    run_git("add", name, cwd=repo)
    run_git("commit", "-q", "-m", f"add {name}", cwd=repo)
    sha = run_git("rev-parse", "HEAD", cwd=repo).strip()
    run_git("checkout", "-q", "main", cwd=repo)
    return sha
