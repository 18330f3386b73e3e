"""Run every benchmark in turn; each prints one JSON document on stdout."""

from bench import recall, writes

for benchmark in (writes, recall):
    benchmark.main()
