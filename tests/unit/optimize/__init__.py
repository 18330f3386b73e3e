"""Unit tests of mnemosyne.optimize."""
