"""The argparse front end: one thin module per command; all logic lives in library packages."""
