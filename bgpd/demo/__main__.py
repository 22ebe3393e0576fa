"""`make demo`: a three-node Calico-style cluster in network namespaces (as root), or the
two-speaker loopback demo when not root."""

import os
import sys

if os.geteuid() == 0:
    from bgpd.demo.cluster import main
else:
    print("not root: network namespaces need root, running the loopback demo instead\n")
    from bgpd.demo.loopback import main

sys.exit(main())
