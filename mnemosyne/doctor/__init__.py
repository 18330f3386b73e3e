"""`mnemosyne doctor`: check everything instances share, and repair what is provably safe.

findings.py holds what a check reports and how a report becomes an exit status and a JSON
document; context.py what every check may read and which fixes it may make; one module per
check (`*_check.py`); checks.py lists them; runner.py picks the roots and runs them.
Must not: print or exit (cli/doctor_command.py does), or send SQL (the store inspects itself).
"""
