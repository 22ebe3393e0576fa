"""The JSON text of the rows of a streamed `show routes` answer (a million routes, say).

Role: a streamed answer (`bgpd.speaker.route_answers.route_chunks`) is sent as JSON, one row
per path. Made the plain way (`route_view(...).to_json()`, then `json.dumps`) a row cost some
50 us, most of it formatting the same attributes again: a full feed's paths share them (one
`PathInfo` per UPDATE, often per thousands of prefixes). So the encoder keeps, for the paths
it met last, the text of their view without its prefix, and makes each row of that text and
the prefix: the very text `json.dumps(view.to_json())` gives (`RouteView.to_json` stays the
one home of the fields), for a few us.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from bgpd.net import format_prefix
from bgpd.rib import PathInfo
from bgpd.speaker.route_answers import Row, SentRow, sent_view
from bgpd.speaker.views import route_view
from bgpd.views import RouteView

__all__ = [
    "PATH_PREFIX",
    "TEXTS_KEPT",
    "PathViews",
    "RouteRowEncoder",
    "SentRowEncoder",
    "SentViews",
]

TEXTS_KEPT = 4_096  # paths' texts kept (forgotten all at once past it: a bounded memory)

# The template view's prefix: JSON writes it as below, and `prefix` is the first field, so
# the first match is the prefix's place whatever the other fields hold.
_MARK = "\0"
_MARK_JSON = json.dumps(_MARK)

_Key = tuple[int, str, str, int, bool, bool]
K = TypeVar("K")
V = TypeVar("V")

PATH_PREFIX = ""  # the `prefix` of a view shared by the rows of a path (`PathViews`)


def _key(row: Row) -> _Key:
    _, _, candidate, best = row
    source = candidate.source
    return (
        id(candidate.info),
        source.name,
        source.kind.name,
        candidate.path_id,
        candidate.stale,
        best,
    )


class _PathsMet(Generic[K, V]):
    """What was made of the paths met last, by key, each kept with its PathInfo (alive, and
    checked: an id in a key is reused only once its object is gone); forgotten all at once
    past `TEXTS_KEPT` entries, so memory stays bounded whatever the answer's size."""

    __slots__ = ("_made",)

    def __init__(self) -> None:
        self._made: dict[K, tuple[PathInfo, V]] = {}

    def get(self, key: K, info: PathInfo, make: Callable[[], V]) -> V:
        known = self._made.get(key)
        if known is None or known[0] is not info:
            if len(self._made) >= TEXTS_KEPT:
                self._made.clear()
            known = self._made[key] = (info, make())
        return known[1]


def _around_prefix(view: RouteView) -> tuple[str, str]:
    """The compact JSON text of `view` before and after its prefix's place."""
    text = json.dumps(replace(view, prefix=_MARK).to_json(), separators=(",", ":"))
    head, tail = text.split(_MARK_JSON, 1)
    return head, tail


class PathViews:
    """Rows (`route_answers.Row`) as the views of their paths, one view per path met lately:
    the rows of one path (a full feed's thousands of prefixes) share it, its `prefix`
    `PATH_PREFIX` (the reader takes a row's prefix from the row), so that what a reader makes
    of a view (the BIRD socket's text) can be made once per path."""

    __slots__ = ("_views",)

    def __init__(self) -> None:
        self._views: _PathsMet[_Key, RouteView] = _PathsMet()

    def __call__(self, row: Row) -> RouteView:
        family, nlri, candidate, best = row
        return self._views.get(
            _key(row),
            candidate.info,
            lambda: replace(route_view(family, nlri, candidate, best=best), prefix=PATH_PREFIX),
        )


class RouteRowEncoder:
    """Rows (`route_answers.Row`) as the JSON text of their views, compact separators."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        # source, path id, stale, best and the PathInfo -> text around the prefix
        self._texts: _PathsMet[_Key, tuple[str, str]] = _PathsMet()

    def __call__(self, row: Row) -> str:
        family, nlri, candidate, best = row
        head, tail = self._texts.get(
            _key(row),
            candidate.info,
            lambda: _around_prefix(route_view(family, nlri, candidate, best=best)),
        )
        # a prefix's text ("10.0.0.0/8", "2001:db8::/32") needs no JSON escaping
        return f'{head}"{format_prefix(nlri, family.afi)}"{tail}'


# a sent path's (`route_answers.SentRow`) own part: id of its PathInfo, family, path id
_SentKey = tuple[int, int, int, int]


def _sent_key(row: SentRow) -> _SentKey:
    family, _, path_id, info = row
    return id(info), family.afi, family.safi, path_id


class SentViews:
    """`PathViews` for the paths of an Adj-RIB-Out (`route_answers.sent_chunks`): a view per
    path sent (`route_answers.sent_view`), shared by its rows, its `prefix` `PATH_PREFIX`."""

    __slots__ = ("_views",)

    def __init__(self) -> None:
        self._views: _PathsMet[_SentKey, RouteView] = _PathsMet()

    def __call__(self, row: SentRow) -> RouteView:
        return self._views.get(
            _sent_key(row), row[3], lambda: replace(sent_view(*row), prefix=PATH_PREFIX)
        )


class SentRowEncoder:
    """`RouteRowEncoder` for the paths of an Adj-RIB-Out: the JSON text of their views."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: _PathsMet[_SentKey, tuple[str, str]] = _PathsMet()

    def __call__(self, row: SentRow) -> str:
        family, nlri, _, info = row
        head, tail = self._texts.get(_sent_key(row), info, lambda: _around_prefix(sent_view(*row)))
        return f'{head}"{format_prefix(nlri, family.afi)}"{tail}'
