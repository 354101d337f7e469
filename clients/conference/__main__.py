"""`python -m clients.conference`: run the conference bridge (see clients/conference/cli.py)."""

import sys

from clients.conference.cli import main

sys.exit(main())
