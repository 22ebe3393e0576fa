"""Reading Calico's JSON values the way its Go code does, and writing them back the same way.

Role: small pure helpers shared by the resource readers: a problem collector bound to one etcd
key, a typed field reader over a decoded JSON object, and the Go conventions Calico's output
follows (numorstring.ASNumber, time.ParseDuration, net.SplitHostPort, cnet.ParseIP,
encoding/json's compact output with HTML escaping).

Invariants: readers never raise on bad data; they record a `ConfigProblem` naming the key and the
field path (`spec.peerIP: ...`) and return a neutral value, so one pass finds every problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network

from bgpd.errors import ConfigProblem
from bgpd.net import IPAddress, IPNetwork

__all__ = [
    "MAX_ASN",
    "Fields",
    "Problems",
    "decode_json",
    "go_json",
    "is_ipv4_text",
    "is_ipv6",
    "parse_asn",
    "parse_cidr",
    "parse_decimal",
    "parse_go_duration",
    "parse_ip",
    "parse_ip_or_cidr",
    "round_seconds",
    "split_host_port",
    "unencodable",
]

MAX_ASN = 2**32 - 1
# More significant digits than 2**64 has: out of range of every datastore number, and short
# enough that int() never meets CPython's 4300-digit conversion limit (a ValueError).
_MAX_DIGITS = 20
_OUT_OF_RANGE = 10**_MAX_DIGITS


def parse_decimal(text: str) -> int | None:
    """The value of `text` written in ASCII digits only (no sign, no spaces), or None.

    The one reader of numbers held in datastore strings (ports, AS numbers, timers), as Go's
    strconv reads them. `str.isdigit()` alone also accepts "²" (which `int()` then refuses)
    and `int()` reads other scripts' digits ("٣" is 3): neither is a number to Calico. A
    number longer than any field allows reads as 10**20, so range checks refuse it.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else _OUT_OF_RANGE


def unencodable(text: str) -> int | None:
    """Index of the first character UTF-8 cannot encode (a lone UTF-16 surrogate), or None.

    JSON's `"\\ud800"` decodes to such a character; written into a file or a log it raises."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _reject_constant(name: str) -> float:
    # Go's encoding/json knows no NaN or Infinity; Python's json would read them as floats.
    raise ValueError(f"{name} is not JSON")


def decode_json(text: str) -> object:
    """`json.loads` as Go's encoding/json accepts documents, raising only `ValueError`.

    Besides malformed text this refuses what Python's json would let through or crash on:
    NaN and Infinity, nesting deep enough to exhaust the recursion limit (RecursionError), an
    integer too long to convert (CPython's digit limit), and strings holding lone surrogates
    (`"\\ud800"`), which no later step could write as UTF-8. The message names where.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if "\\u" in text or not text.isascii():
        where = _surrogate_path(value)
        if where is not None:
            raise ValueError(f"{where} holds a lone UTF-16 surrogate (not valid Unicode)")
    return value


def _surrogate_path(value: object) -> str | None:
    """The JSON path (`spec.node`, `items[2]`) of the first string, object key included, that
    UTF-8 cannot encode; iterative, so no nesting depth can exhaust the stack. Paths are
    linked (parent, step) pairs, joined only for the one reported."""
    stack: list[tuple[tuple[object, str] | None, object]] = [(None, value)]
    while stack:
        link, item = stack.pop()
        if isinstance(item, str):
            if unencodable(item) is not None:
                return _join_path(link)
        elif isinstance(item, dict):
            for name, child in item.items():
                if unencodable(name) is not None:
                    return f"a key in {_join_path(link)}"
                stack.append(((link, f".{name}"), child))
        elif isinstance(item, list):
            stack.extend(((link, f"[{i}]"), child) for i, child in enumerate(item))
    return None


def _join_path(link: object) -> str:
    steps: list[str] = []
    while isinstance(link, tuple):
        link, step = link
        steps.append(step)
    return "".join(reversed(steps)).lstrip(".") or "the value"


class Problems:
    """Collects the problems of a whole snapshot."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(ConfigProblem(location=key, message=message))

    def __len__(self) -> int:
        return len(self.items)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Fields:
    """Typed access to one JSON object inside the value of etcd key `key`.

    `where` is the object's path inside the value (`spec`, `spec.bgp`), used in messages.
    """

    __slots__ = ("key", "obj", "problems", "where")

    def __init__(self, key: str, obj: Mapping[str, object], where: str, problems: Problems) -> None:
        self.key = key
        self.obj = obj
        self.where = where
        self.problems = problems

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def bad(self, name: str, message: str) -> None:
        self.problems.add(self.key, f"{self.path(name)}: {message}")

    def has(self, name: str) -> bool:
        # Go's encoding/json treats an explicit null like an absent field.
        return self.obj.get(name) is not None

    def text(self, name: str, default: str = "") -> str:
        value = self.obj.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self.bad(name, f"expected a string, got {_type_name(value)}")
            return default
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.obj.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(name, f"expected true or false, got {_type_name(value)}")
            return default
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        """An integer in [low, high], or None when absent or bad (bad ones are recorded)."""
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(name, f"expected an integer, got {_type_name(value)}")
            return None
        if isinstance(value, float):
            if not value.is_integer():
                self.bad(name, f"expected an integer, got {value}")
                return None
            value = int(value)
        if not low <= value <= high:
            self.bad(name, f"{value} is out of range {low}..{high}")
            return None
        return value

    def asn(self, name: str) -> int | None:
        """A numorstring.ASNumber field (number, "64512" or asdot "1.10"); None when absent."""
        value = self.obj.get(name)
        if value is None:
            return None
        asn, message = parse_asn(value)
        if message is not None:
            self.bad(name, message)
        return asn

    def str_list(self, name: str) -> tuple[str, ...] | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.bad(name, f"expected an array of strings, got {_type_name(value)}")
            return None
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.bad(f"{name}[{i}]", f"expected a string, got {_type_name(item)}")
                continue
            out.append(item)
        return tuple(out)

    def sub(self, name: str) -> Fields | None:
        """The nested object `name`, or None when absent (or not an object, recorded)."""
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(name, f"expected an object, got {_type_name(value)}")
            return None
        return Fields(self.key, value, self.path(name), self.problems)

    def subs(self, name: str) -> list[Fields] | None:
        """The objects of array `name`; None when absent (a JSON null counts as absent)."""
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.bad(name, f"expected an array of objects, got {_type_name(value)}")
            return None
        out: list[Fields] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.bad(f"{name}[{i}]", f"expected an object, got {_type_name(item)}")
                continue
            out.append(Fields(self.key, item, self.path(f"{name}[{i}]"), self.problems))
        return out

    def labels(self, name: str) -> dict[str, str]:
        value = self.obj.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(name, f"expected an object of strings, got {_type_name(value)}")
            return {}
        out: dict[str, str] = {}
        for label, text in value.items():
            if not isinstance(text, str):
                self.bad(f"{name}.{label}", f"expected a string, got {_type_name(text)}")
                continue
            out[label] = text
        return out


def parse_asn(value: object) -> tuple[int | None, str | None]:
    """(asn, None) or (None, message), as numorstring.ASNumber.UnmarshalJSON reads it.

    AS 0 is refused: Calico would render `as 0`, which BIRD rejects.
    """
    asn: int | None = None
    if isinstance(value, bool):
        asn = None
    elif isinstance(value, int):
        asn = value
    elif isinstance(value, float) and value.is_integer():
        asn = int(value)
    elif isinstance(value, str):
        asn = parse_decimal(value)
        if asn is None:
            high, dot, low = value.partition(".")
            high_n, low_n = parse_decimal(high), parse_decimal(low)
            if dot and high_n is not None and low_n is not None and max(high_n, low_n) <= 0xFFFF:
                asn = (high_n << 16) + low_n
    if asn is None:
        return None, f"invalid AS number {_quoted(value)}"
    if not 1 <= asn <= MAX_ASN:
        shown = value if isinstance(value, str) and len(value) <= _MAX_DIGITS else asn
        if shown == _OUT_OF_RANGE:
            shown = f"of {len(str(value).lstrip('0'))} digits"
        return None, f"AS number {shown} is out of range 1..{MAX_ASN}"
    return asn, None


# [0-9], not \d: \d also matches other scripts' digits, which float() would then read.
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> float | None:
    """Seconds of a Go `time.ParseDuration` string ("2m0s", "90s", "1.5h"), or None if bad."""
    body = text
    sign = 1.0
    if body.startswith(("+", "-")):
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        return None
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total


def round_seconds(seconds: float) -> int:
    """Go's `int(math.Round(x))`: halves round away from zero (Python's round() would not)."""
    return int(math.copysign(math.floor(abs(seconds) + 0.5), seconds))


def parse_ip(text: str) -> IPAddress | None:
    """cnet.ParseIP: an IPv4 or IPv6 literal without zone or prefix; None when not one."""
    if "%" in text or "/" in text:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None


def parse_ip_or_cidr(text: str) -> tuple[IPAddress, IPNetwork] | None:
    """cnet.ParseCIDROrIP: (address, its network); a bare address gets a host-length network."""
    if "%" in text:
        return None
    try:
        iface = ip_interface(text)
    except ValueError:
        return None
    return iface.ip, iface.network


def parse_cidr(text: str) -> IPNetwork | None:
    """net.ParseCIDR's network (host bits masked off), or None when `text` is not a CIDR."""
    if "/" not in text or "%" in text:
        return None
    try:
        return ip_network(text, strict=False)
    except ValueError:
        return None


def split_host_port(text: str) -> tuple[str, int]:
    """Calico's `parseIPPort`: ("host", port) from `IP`, `IP:port` or `[IPv6]:port`.

    As in Go's net.SplitHostPort, anything it cannot split (a bare IPv6 address, a missing or
    bad port) is returned whole with port 0; the IP check that follows then decides.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return text, 0
        host, port_text = text[1:end], text[end + 2 :]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        return text, 0
    port = parse_decimal(port_text)
    if port is None or port > 0xFFFF:
        return text, 0
    return host, port


def _quoted(value: object) -> str:
    """`value` as JSON for a message, never raising (a lone surrogate is shown escaped)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def go_json(value: object) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped, UTF-8 kept)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def is_ipv4_text(text: str) -> bool:
    """True for a dotted-quad IPv4 literal (Calico's routeReflectorClusterID format)."""
    try:
        return isinstance(ip_address(text), IPv4Address)
    except ValueError:
        return False


def is_ipv6(address: IPAddress) -> bool:
    return isinstance(address, IPv6Address)
