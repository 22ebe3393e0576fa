"""The BGP wire codec: bytes <-> message values (stdlib only).

Role: framing of the TCP byte stream, decoding and encoding of every message bgpd speaks, and the
RFC 7606 error actions for malformed UPDATEs. Invariant: decoding never raises anything but
`bgpd.errors.WireError`, whatever the bytes.
"""
