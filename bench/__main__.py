"""Run every benchmark in turn; each prints one JSON document on stdout."""

from bench import (
    api,
    coordination,
    daemon,
    doctor,
    doctor_database,
    mcp,
    orchestrate,
    recall,
    writes,
)

for benchmark in (writes, recall, coordination, daemon, api, doctor, doctor_database, mcp,
                  orchestrate):
    benchmark.main()
