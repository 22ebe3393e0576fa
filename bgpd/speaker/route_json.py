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
from dataclasses import replace

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


class PathViews:
    """Rows (`route_answers.Row`) as the views of their paths, one view per path met lately:
    the rows of one path (a full feed's thousands of prefixes) share it, its `prefix`
    `PATH_PREFIX` (the reader takes a row's prefix from the row), so that what a reader makes
    of a view (the BIRD socket's text) can be made once per path."""

    __slots__ = ("_views",)

    def __init__(self) -> None:
        # as `RouteRowEncoder`'s texts: the PathInfo kept, and checked, with its view
        self._views: dict[_Key, tuple[PathInfo, RouteView]] = {}

    def __call__(self, row: Row) -> RouteView:
        family, nlri, candidate, best = row
        key = _key(row)
        known = self._views.get(key)
        if known is None or known[0] is not candidate.info:
            if len(self._views) >= TEXTS_KEPT:
                self._views.clear()
            view = replace(route_view(family, nlri, candidate, best=best), prefix=PATH_PREFIX)
            known = self._views[key] = (candidate.info, view)
        return known[1]


class RouteRowEncoder:
    """Rows (`route_answers.Row`) as the JSON text of their views, compact separators."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        # id of the PathInfo (kept alive, and checked, with its text: an id is reused only
        # once its object is gone), source, path id, stale, best -> text around the prefix
        self._texts: dict[_Key, tuple[PathInfo, str, str]] = {}

    def __call__(self, row: Row) -> str:
        family, nlri, candidate, best = row
        info = candidate.info
        key = _key(row)
        known = self._texts.get(key)
        if known is None or known[0] is not info:
            if len(self._texts) >= TEXTS_KEPT:
                self._texts.clear()
            view = replace(route_view(family, nlri, candidate, best=best), prefix=_MARK)
            head, tail = json.dumps(view.to_json(), separators=(",", ":")).split(_MARK_JSON, 1)
            known = self._texts[key] = (info, head, tail)
        # a prefix's text ("10.0.0.0/8", "2001:db8::/32") needs no JSON escaping
        return f'{known[1]}"{format_prefix(nlri, family.afi)}"{known[2]}'


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
        self._views: dict[_SentKey, tuple[PathInfo, RouteView]] = {}

    def __call__(self, row: SentRow) -> RouteView:
        key = _sent_key(row)
        known = self._views.get(key)
        if known is None or known[0] is not row[3]:
            if len(self._views) >= TEXTS_KEPT:
                self._views.clear()
            known = self._views[key] = (row[3], replace(sent_view(*row), prefix=PATH_PREFIX))
        return known[1]


class SentRowEncoder:
    """`RouteRowEncoder` for the paths of an Adj-RIB-Out: the JSON text of their views."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[_SentKey, tuple[PathInfo, str, str]] = {}

    def __call__(self, row: SentRow) -> str:
        family, nlri, _, info = row
        key = _sent_key(row)
        known = self._texts.get(key)
        if known is None or known[0] is not info:
            if len(self._texts) >= TEXTS_KEPT:
                self._texts.clear()
            view = replace(sent_view(*row), prefix=_MARK)
            head, tail = json.dumps(view.to_json(), separators=(",", ":")).split(_MARK_JSON, 1)
            known = self._texts[key] = (info, head, tail)
        return f'{known[1]}"{format_prefix(nlri, family.afi)}"{known[2]}'
