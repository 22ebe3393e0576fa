"""The operator's control socket: bgpctl's JSON-lines protocol (and, later, BIRD's CLI)."""
