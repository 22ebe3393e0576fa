"""The standalone route reflector (RFC 4456 mode of the bgpd core); arrives with issue 4."""
