"""`python -m reflector`: the same as the `bgp-reflector` command."""

import sys

from reflector.command import main

sys.exit(main())
