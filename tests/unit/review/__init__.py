"""Unit tests of mnemosyne.review."""
