"""`make demo`: two speakers on loopback exchanging routes, shown through bgpctl."""
