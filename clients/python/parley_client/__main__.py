"""`python -m clients.python.parley_client` == `parley-client`."""

import sys

from clients.python.parley_client.cli import main

sys.exit(main())
