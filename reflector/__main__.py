"""`python -m reflector`: the same as the `bgp-reflector` command."""

import sys

from reflector.cli import main

sys.exit(main())
