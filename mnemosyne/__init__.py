"""Mnemosyne: a local memory daemon for coding agents.

Many instances on one machine share one SQLite store and one coordination directory.
Must not: import anything heavy here; `mnemosyne --help` and every CLI call import this first.
"""

__version__ = "0.1.0"
