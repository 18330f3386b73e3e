"""Run every benchmark in turn; each prints one JSON document on stdout."""

from bench import (
    api,
    coordination,
    daemon,
    doctor,
    doctor_database,
    mcp,
    optimize,
    orchestrate,
    postgres,
    recall,
    review,
    writes,
)

for benchmark in (writes, recall, postgres, coordination, daemon, api, doctor, doctor_database,
                  mcp, review, orchestrate, optimize):
    benchmark.main()
