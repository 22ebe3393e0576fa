"""The standalone route reflector: the bgpd core in RFC 4456 mode with the reflector profile.

`reflector.profile` loads bgpd's config format with the reflector's defaults and `[reflector]`
table, `reflector.discovery` derives its peers from the node list, `reflector.command` is the
`bgp-reflector` command. Sessions, reflection rules and the runtime are bgpd's own.
"""
