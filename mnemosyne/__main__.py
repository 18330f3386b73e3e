"""Run the command line as `python -m mnemosyne`."""

import sys

from mnemosyne.cli.main import main

sys.exit(main())
