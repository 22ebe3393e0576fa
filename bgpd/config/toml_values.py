"""TOML value converters: one raw value of a parsed document to the typed value of a field.

Role: the loader's type conversion (`bgpd.config.loader` maps each key of a section to one of
these). A converter checks the value's TOML type and parses text into the value it spells (an
address, a prefix, a community, an enum member); whether the value is acceptable for its field
is the section's own check (`validate` of the dataclasses), never a converter's.

Invariants:
- A converter returns the typed value or raises `InvalidValueError`, whose `problems` are
  (location suffix, message) pairs relative to the key (`""`, `[2]`, `.rack`), so a list
  reports each bad element at its index. A list or table with some bad elements carries the
  rest (`partial`), so that the section still checks those.
- Types are strict: an integer field does not take a string or a boolean, and a prefix with
  host bits set is an error rather than being masked.
- Value objects that check themselves (`ListenAddress`) are built here and their problem is the
  key's problem.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from ipaddress import IPv4Interface, IPv6Interface, ip_address, ip_interface, ip_network
from typing import Any, TypeVar

from bgpd.config.calico import Labels, label_suffix
from bgpd.config.checks import Community, LargeCommunity
from bgpd.config.schema import ListenAddress
from bgpd.errors import ConfigError
from bgpd.net import FAMILIES_BY_NAME, Family, IPAddress, IPNetwork

__all__ = [
    "Convert",
    "InvalidValueError",
    "suggest",
    "to_any_community",
    "to_bool",
    "to_community",
    "to_enum",
    "to_family",
    "to_int",
    "to_ip",
    "to_labels",
    "to_large_community",
    "to_list",
    "to_listen_address",
    "to_optional_interface",
    "to_optional_ip",
    "to_prefix",
    "to_str",
    "type_name",
]

_E = TypeVar("_E", bound=StrEnum)
Convert = Callable[[object], Any]


class InvalidValueError(ValueError):
    """A value was rejected; `problems` are (location suffix, message) pairs.

    `partial`: for a list, the elements that could be read with None for the others; for a
    table of labels, its good entries; None when nothing of the value could be read.
    """

    def __init__(self, message: str, suffix: str = "") -> None:
        super().__init__(message)
        self.problems: list[tuple[str, str]] = [(suffix, message)]
        self.partial: object = None

    @classmethod
    def of(cls, problems: list[tuple[str, str]], partial: object) -> InvalidValueError:
        err = cls(problems[0][1], problems[0][0])
        err.problems = problems
        err.partial = partial
        return err


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return f"a string ({json.dumps(value, ensure_ascii=False)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return type(value).__name__


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word` (a likely typo of it), or None when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean "x"?` for the closest of `choices`, or "" when none is close."""
    close = closest(word, choices)
    return f"; did you mean {json.dumps(close)}?" if close is not None else ""


def to_int(value: object) -> int:
    # bool is an int subclass in Python; `true` must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"expected an integer, got {type_name(value)}")
    return value


def to_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"expected true or false, got {type_name(value)}")
    return value


def to_str(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"expected a string, got {type_name(value)}")
    return value


def to_enum(cls: type[_E]) -> Convert:
    names = [str(m) for m in cls]

    def conv(value: object) -> _E:
        if not isinstance(value, str):
            raise InvalidValueError(f"expected a string, got {type_name(value)}")
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(json.dumps(n) for n in names)
            raise InvalidValueError(
                f"{json.dumps(value)} is not one of {choices}{suggest(value, names)}"
            ) from None

    return conv


def to_ip(value: object) -> IPAddress:
    if not isinstance(value, str):
        raise InvalidValueError(f"expected an IP address string, got {type_name(value)}")
    try:
        return ip_address(value)
    except ValueError:
        raise InvalidValueError(f"{json.dumps(value)} is not an IP address") from None


def to_prefix(value: object) -> IPNetwork:
    if not isinstance(value, str):
        raise InvalidValueError(
            f'expected a prefix string such as "10.0.0.0/24", got {type_name(value)}'
        )
    if "/" not in value:
        raise InvalidValueError(
            f"{json.dumps(value)} has no prefix length (write it as ADDRESS/LENGTH)"
        )
    try:
        return ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        masked = ip_network(value, strict=False)
    except ValueError:
        raise InvalidValueError(f"{json.dumps(value)} is not an IP prefix") from None
    raise InvalidValueError(f'{json.dumps(value)} has host bits set; did you mean "{masked}"?')


def to_list(element: Convert) -> Convert:
    def conv(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise InvalidValueError(f"expected an array, got {type_name(value)}")
        items: list[Any] = []
        problems: list[tuple[str, str]] = []
        for i, raw in enumerate(value):
            try:
                items.append(element(raw))
            except InvalidValueError as exc:
                items.append(None)
                problems.extend((f"[{i}]{suffix}", msg) for suffix, msg in exc.problems)
        if problems:
            raise InvalidValueError.of(problems, tuple(items))
        return tuple(items)

    return conv


def _uint_parts(value: object, count: int, limit: int, what: str) -> list[int]:
    if not isinstance(value, str):
        raise InvalidValueError(f"expected a {what} string, got {type_name(value)}")
    parts = value.split(":")
    if len(parts) != count or not all(p.isascii() and p.isdigit() for p in parts):
        form = ":".join("ABC"[:count])
        raise InvalidValueError(f"{json.dumps(value)} is not a {what} of the form {form}")
    numbers = [int(p) for p in parts]
    # A part that does not fit its field spells no community at all (parsing, not a check).
    if any(n > limit for n in numbers):
        raise InvalidValueError(f"{json.dumps(value)}: each part of a {what} must be 0..{limit}")
    return numbers


def to_community(value: object) -> Community:
    # RFC 1997: two 16-bit halves.
    high, low = _uint_parts(value, 2, 65535, "community")
    return Community(high=high, low=low)


def to_large_community(value: object) -> LargeCommunity:
    # RFC 8092 §3: three 32-bit parts.
    g, l1, l2 = _uint_parts(value, 3, 4_294_967_295, "large community")
    return LargeCommunity(global_admin=g, local1=l1, local2=l2)


def to_any_community(value: object) -> Community | LargeCommunity:
    # Calico's prefixAdvertisements mix both kinds in one list; the colons tell them apart.
    if isinstance(value, str) and value.count(":") == 2:
        return to_large_community(value)
    if isinstance(value, str) and value.count(":") != 1:
        raise InvalidValueError(
            f'{json.dumps(value)} is neither a community "A:B" nor a large community "A:B:C"'
        )
    return to_community(value)


def to_optional_ip(value: object) -> IPAddress | None:
    """An address, or "" for none (Calico writes "" for a missing address)."""
    return None if value == "" else to_ip(value)


def to_optional_interface(value: object) -> IPv4Interface | IPv6Interface | None:
    """An "ADDRESS/LENGTH" (a bare address is a host route), or "" for none."""
    if value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValueError(
            f'expected an address string such as "10.0.0.1/24", got {type_name(value)}'
        )
    try:
        iface: IPv4Interface | IPv6Interface = ip_interface(value)
    except ValueError:
        raise InvalidValueError(
            f"{json.dumps(value)} is not an address with an optional /LENGTH"
        ) from None
    return iface


def to_labels(value: object) -> Labels:
    """A table of string labels (`labels = { "rack" = "r1" }`), as Kubernetes writes them."""
    if not isinstance(value, dict):
        raise InvalidValueError(
            f'expected a table of strings such as {{ "rack" = "r1" }}, got {type_name(value)}'
        )
    problems = [
        (label_suffix(key), f"expected a string, got {type_name(label)}")
        for key, label in value.items()
        if not isinstance(label, str)
    ]
    if problems:
        good = Labels({k: v for k, v in value.items() if isinstance(v, str)})
        raise InvalidValueError.of(problems, good)
    return Labels(value)


def to_listen_address(value: object) -> ListenAddress:
    if not isinstance(value, str):
        raise InvalidValueError(f'expected a "HOST:PORT" string, got {type_name(value)}')
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep or ":" not in host:
            raise InvalidValueError(f'{json.dumps(value)} is not "[IPV6]:PORT"')
    else:
        host, sep, port = value.rpartition(":")
        if not sep or ":" in host:
            raise InvalidValueError(
                f'{json.dumps(value)} is not "HOST:PORT" (write IPv6 hosts as "[::1]:9100")'
            )
    if not (port.isascii() and port.isdigit()):
        raise InvalidValueError(f"{json.dumps(value)}: port {json.dumps(port)} is not a number")
    try:
        return ListenAddress(host=host, port=int(port))
    except ConfigError as exc:
        raise InvalidValueError(exc.problems[0].message) from None


def to_family(value: object) -> Family:
    if not isinstance(value, str):
        raise InvalidValueError(f"expected a family name string, got {type_name(value)}")
    family = FAMILIES_BY_NAME.get(value)
    if family is None:
        choices = ", ".join(json.dumps(n) for n in FAMILIES_BY_NAME)
        raise InvalidValueError(
            f"{json.dumps(value)} is not one of {choices}{suggest(value, FAMILIES_BY_NAME)}"
        )
    return family
