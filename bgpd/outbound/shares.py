"""Each member's share of one batch of a group's messages, without a pass over the batch per
member and without a copy per member.

Role: a batch's messages are tagged for the members they concern (`GroupMessage.skip`: not the
origin of the routes they announce or withdraw; `only`: that one member). Most members get
the same bytes; a member that is the origin of some of them (in a reflector's cluster, every
client whose UPDATE is in the batch) gets the shared bytes minus its own messages. The shared
bytes are joined once with the offsets of each message; a member's share is a few slices of
them (memoryviews cut around its own messages: no copy), its counts the totals minus theirs.
The same serves a joining member's whole table (`AdjRibOut.table_shares`): the messages of
every origin joined once, each member's table the blob minus its own origin's messages.

Invariants: a member's share holds, in the batch's order, every message `for_member` admits
for it (the `only` messages, which come last in a batch, after the shared ones), and counts
exactly what they announce, withdraw and withhold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgpd.wire.framing import Chunk

if TYPE_CHECKING:
    from bgpd.outbound.adj_out import GroupMessage

# (chunks, prefixes announced, prefixes withdrawn, UPDATE count, prefixes withheld)
Part = tuple[tuple[Chunk, ...], int, int, int, int]
NOTHING: Part = ((), 0, 0, 0, 0)


def joined(messages: list[GroupMessage]) -> Part:
    """The messages sent as one."""
    data = messages[0].data if len(messages) == 1 else b"".join(m.data for m in messages)
    announced = sum(m.announced for m in messages)
    withdrawn = sum(m.withdrawn for m in messages)
    withheld = sum(m.withheld for m in messages)
    return (data,) if data else (), announced, withdrawn, sum(m.count for m in messages), withheld


class MemberShares:
    __slots__ = ("_blob", "_bounds", "_by_only", "_by_skip", "_data", "_shared", "everyone")

    def __init__(self, messages: list[GroupMessage]) -> None:
        shared = [m for m in messages if not m.only]
        self._shared = shared
        # What a member no message is tagged for receives.
        self.everyone = joined(shared) if shared else NOTHING
        self._data = self.everyone[0][0] if self.everyone[0] else b""
        self._blob = memoryview(self._data)
        self._bounds: list[int] = []  # end offset of each shared message in the blob
        end = 0
        self._by_skip: dict[str, list[int]] = {}  # member -> indices of its own shared messages
        for i, message in enumerate(shared):
            end += len(message.data)
            self._bounds.append(end)
            if message.skip:
                self._by_skip.setdefault(message.skip, []).append(i)
        self._by_only: dict[str, list[GroupMessage]] = {}
        for message in messages:
            if message.only:
                self._by_only.setdefault(message.only, []).append(message)

    def tagged(self, name: str) -> bool:
        return name in self._by_skip or name in self._by_only

    def share(self, name: str) -> Part:
        """What `name` receives (for a member `tagged` or not)."""
        skips = self._by_skip.get(name)
        onlys = self._by_only.get(name)
        if skips is None and onlys is None:
            return self.everyone
        _, announced, withdrawn, count, withheld = self.everyone
        pieces: list[Chunk] = []
        start = 0
        for i in skips or ():
            message = self._shared[i]
            end = self._bounds[i]
            if end - len(message.data) > start:
                pieces.append(self._blob[start : end - len(message.data)])
            start = end
            announced -= message.announced
            withdrawn -= message.withdrawn
            count -= message.count
            withheld -= message.withheld
        if start < len(self._blob):
            pieces.append(self._blob[start:] if start else self._data)
        for message in onlys or ():
            if message.data:
                pieces.append(message.data)
            announced += message.announced
            withdrawn += message.withdrawn
            count += message.count
            withheld += message.withheld
        return tuple(pieces), announced, withdrawn, count, withheld
