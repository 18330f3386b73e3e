"""Run every benchmark in turn; each prints one JSON document on stdout."""

from bench import api, coordination, daemon, recall, writes

for benchmark in (writes, recall, coordination, daemon, api):
    benchmark.main()
