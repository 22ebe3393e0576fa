"""What a template reads: the datastore keys as confd's memkv, and the rest of a render's inputs.

Role: the inputs of one render. `KvStore` behaves like confd's memkv over the keys a template
resource asked for: keys are relative to the resource's `prefix`, `gets` takes a `path.Match`
glob (`*` stops at `/`), `ls` lists child names and `lsdir` those children that have children
of their own. `KVPair` is confd's `.Key`/`.Value` pair, the JSON readers decode a value the
way confd's `json`/`jsonArray` do, and `TemplateContext` carries what a render knows besides
the datastore (node name, environment, `--var`s). `DataError` is the one error a template
input raises.

Invariants:
- Reads never guess: a missing key or a value that cannot be decoded raises `DataError`
  naming the datastore key (or environment variable, or `--var`) it came from.
- A `KvStore` is read-only and its listings are sorted, so a render over an unchanged view
  sees the same keys in the same order.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bgpd.confd.model.values import decode_json
from bgpd.errors import ConfigError, ConfigProblem

__all__ = [
    "DataError",
    "KVPair",
    "KvStore",
    "TemplateContext",
    "json_array",
    "json_object",
    "json_value",
]


class DataError(ConfigError):
    """A datastore value a template needs is missing or malformed: one problem, located by
    `key` (the project's one problem-collecting error, `ConfigError`, with one entry)."""

    __slots__ = ()

    def __init__(self, key: str, message: str) -> None:
        super().__init__((ConfigProblem(location=key, message=message),))

    @property
    def key(self) -> str:
        return self.problems[0].location

    @property
    def message(self) -> str:
        return self.problems[0].message


@dataclass(frozen=True, slots=True, kw_only=True)
class KVPair:
    """confd's KVPair: `.Key`/`.Value` as in Go templates, `.key`/`.value` for jinja2 taste."""

    key: str
    value: str

    @property
    def Key(self) -> str:  # noqa: N802 - confd's field name
        return self.key

    @property
    def Value(self) -> str:  # noqa: N802 - confd's field name
        return self.value


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's `path.Match` as a regex: `*` and `?` never cross a `/`; `[...]` is a class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^"):
                    body = "^" + body[1:].replace("\\", "\\\\")
                else:
                    body = body.replace("\\", "\\\\")
                out.append(f"[{body}]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


class KvStore:
    """A read-only memkv: the keys a template resource asked for, relative to its prefix."""

    __slots__ = ("_keys", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._keys = sorted(self._values)

    @classmethod
    def for_resource(cls, view: Mapping[str, str], prefix: str, keys: Iterable[str]) -> KvStore:
        """The keys of `view` under `prefix + k` for each `k` in `keys`, prefix stripped (as
        confd's template resource does)."""
        prefix = prefix.rstrip("/")
        wanted = tuple(prefix + "/" + k.lstrip("/") if k else prefix for k in keys)
        out: dict[str, str] = {}
        for key, value in view.items():
            if key.startswith(wanted):
                out[key[len(prefix) :] or "/"] = value
        return cls(out)

    def __len__(self) -> int:
        return len(self._values)

    def _under(self, path: str) -> list[str]:
        """Sorted keys strictly under directory `path`."""
        base = path.rstrip("/") + "/"
        start = bisect.bisect_left(self._keys, base)
        end = bisect.bisect_left(self._keys, base[:-1] + "0")  # "0" sorts right after "/"
        return self._keys[start:end]

    def exists(self, key: str) -> bool:
        return key in self._values

    def get(self, key: str) -> KVPair:
        try:
            return KVPair(key=key, value=self._values[key])
        except KeyError:
            raise DataError(key, "key does not exist") from None

    def getv(self, key: str, default: str | None = None) -> str:
        value = self._values.get(key)
        if value is not None:
            return value
        if default is not None:
            return default
        raise DataError(key, "key does not exist")

    def gets(self, pattern: str) -> list[KVPair]:
        regex = _glob_regex(pattern)
        literal = re.split(r"[*?\[\\]", pattern, maxsplit=1)[0]
        start = bisect.bisect_left(self._keys, literal)
        out: list[KVPair] = []
        for key in self._keys[start:]:
            if not key.startswith(literal):
                break
            if regex.match(key):
                out.append(KVPair(key=key, value=self._values[key]))
        return out

    def getvs(self, pattern: str) -> list[str]:
        return [kv.value for kv in self.gets(pattern)]

    def ls(self, path: str) -> list[str]:
        base = path.rstrip("/") + "/"
        names = {key[len(base) :].split("/", 1)[0] for key in self._under(path)}
        return sorted(names)

    def lsdir(self, path: str) -> list[str]:
        base = path.rstrip("/") + "/"
        names = {
            rest.split("/", 1)[0]
            for rest in (key[len(base) :] for key in self._under(path))
            if "/" in rest
        }
        return sorted(names)


def json_value(value: str | KVPair) -> Any:
    """confd's `json`: a value (or a pair's value) decoded as Go's encoding/json reads it."""
    key, text = (value.key, value.value) if isinstance(value, KVPair) else ("<value>", value)
    try:
        return decode_json(text)
    except ValueError as exc:
        raise DataError(key, f"malformed JSON: {exc}") from None


def json_object(value: str | KVPair) -> dict[str, Any]:
    """A value that must decode to a JSON object (a v1 peer, pool or filter)."""
    data = json_value(value)
    if not isinstance(data, dict):
        key = value.key if isinstance(value, KVPair) else "<value>"
        raise DataError(key, f"expected a JSON object, got {type(data).__name__}")
    return data


def json_array(value: str | KVPair) -> list[Any]:
    """confd's `jsonArray`: a value that must decode to a JSON array."""
    data = json_value(value)
    if not isinstance(data, list):
        key = value.key if isinstance(value, KVPair) else "<value>"
        raise DataError(key, f"expected a JSON array, got {type(data).__name__}")
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateContext:
    """What a render knows besides the datastore: the node name, environment, `--var`s."""

    nodename: str
    environ: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
