"""Errors the session layer raises on purpose.

Invariant: every error here is a misuse of the `Session` API by its driver (the runtime or a test),
never a reaction to bytes from the network: protocol errors become NOTIFICATIONs and events.
"""

from __future__ import annotations

from bgpd.errors import BgpdError


class SessionError(BgpdError):
    """The driver asked for something the session cannot do in its current state."""


class NotEstablishedError(SessionError):
    """Sending UPDATE or ROUTE-REFRESH data needs an Established session."""


class InvalidSettingsError(SessionError, ValueError):
    """A `SessionSettings` value that no BGP session can use."""
