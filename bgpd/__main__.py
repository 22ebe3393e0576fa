import sys

from bgpd.main import main

sys.exit(main())
