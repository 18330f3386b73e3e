"""Benchmarks: each module prints one JSON document of figures; `python -m bench` runs all."""
