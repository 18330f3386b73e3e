"""`mnemosyne review`: check each new commit at the tip of an instance branch, once.

tips.py finds the commits, worktree.py gives each a temporary detached worktree under the
coordination root, checkrun.py runs the check there, markers.py scans the diff, record.py
claims the commit and stores and sends the result, reviewer.py composes one pass and
watcher.py keeps reviewing as commits arrive.
Must not: import cli/, api/, dash/ or doctor/.
"""
