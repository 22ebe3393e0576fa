import sys

from bgpd.cli import main

sys.exit(main())
