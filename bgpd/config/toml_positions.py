"""Where each key, table and array element of a TOML text starts (line and column).

Role: puts `FILE:LINE:COL` on the loader's problems, whose locations are key paths
(`peer[3].hold_time`), and on TOML syntax errors; the standard `tomllib` keeps no positions.
The scanner runs only on text that `tomllib` has already accepted, and only when the file is
rejected, so it reads the structure and skips the values (strings, numbers, dates) without
checking them.

Why our own scanner and not a TOML library that keeps a document (tomlkit): tomlkit's items
carry their formatting but no line or column, and it would be a runtime dependency of the
config package, which is stdlib only. The grammar needed to find where keys start is small.

Invariants: a path is a tuple of keys and 0-based array indices, as the loader names them
(`("peer", 3, "hold_time")`, `("static", 0, "communities", 1)`); a table's path maps to its
header, an array of tables' entry to its `[[...]]` header; positions are 1-based.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from bgpd.errors import ConfigProblem

__all__ = [
    "Path",
    "key_positions",
    "line_col",
    "location_path",
    "position_of",
    "positioned",
    "syntax_problem",
]

Path = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}\n#]")
_LOCATION_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_NAME_SUFFIX = re.compile(r" \(name .*\)$")
_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)$")


def positioned(problems: Iterable[ConfigProblem], text: str, source: str) -> list[ConfigProblem]:
    """`problems` with FILE:LINE:COL of their key paths in `text` (a missing key: its table)."""
    positions = key_positions(text)
    return [
        dataclasses.replace(
            p, at="{}:{}:{}".format(source, *position_of(positions, location_path(p.location)))
        )
        for p in problems
    ]


def line_col(prefix: str) -> tuple[int, int]:
    """1-based line and column of the character just after `prefix` (tomllib's convention)."""
    line = prefix.count("\n") + 1
    return line, len(prefix) - (prefix.rfind("\n") + 1) + 1


def syntax_problem(message: str, text: str, source: str) -> ConfigProblem:
    # tomllib (3.11) reports the position only inside the message text.
    m = _SYNTAX_POSITION.search(message)
    if m:
        location = f"{source}:{m.group(1)}:{m.group(2)}"
        message = message[: m.start()]
    else:
        end = _SYNTAX_AT_END.search(message)
        if end:
            message = message[: end.start()]
        line, col = line_col(text)
        location = f"{source}:{line}:{col}"
    return ConfigProblem(location=location, message=f"TOML syntax error: {message}")


def location_path(location: str) -> Path:
    """The path of a loader location: `peer[3].hold_time (name "x")` -> ("peer", 3, "hold_time")."""
    location = _NAME_SUFFIX.sub("", location)
    return tuple(
        m.group(1) if m.group(1) is not None else int(m.group(2))
        for m in _LOCATION_PART.finditer(location)
    )


def position_of(positions: dict[Path, tuple[int, int]], path: Path) -> tuple[int, int]:
    """The position of `path`, or of its closest written ancestor (a missing key: its table;
    a missing section: the top of the file)."""
    for end in range(len(path), 0, -1):
        found = positions.get(path[:end])
        if found is not None:
            return found
    return (1, 1)


def key_positions(text: str) -> dict[Path, tuple[int, int]]:
    """Every key, table header and array element of `text` (valid TOML), with its position."""
    return _Scanner(text).scan()


class _Scanner:
    __slots__ = ("aot_index", "i", "line_starts", "positions", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.positions: dict[Path, tuple[int, int]] = {}
        # the current index of each array of tables, by its path without the index
        self.aot_index: dict[Path, int] = {}
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.line_starts[lo] + 1

    def mark(self, path: Path, offset: int) -> None:
        self.positions.setdefault(path, self.where(offset))

    def peek(self, n: int = 1) -> str:
        return self.text[self.i : self.i + n]

    def skip_blank(self, newlines: bool) -> None:
        """Whitespace and comments; newlines too when `newlines` (inside arrays)."""
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def scan(self) -> dict[Path, tuple[int, int]]:
        table: Path = ()
        while True:
            self.skip_blank(newlines=True)
            if self.i >= len(self.text):
                return self.positions
            start = self.i
            if self.peek(2) == "[[":
                self.i += 2
                parts = self.keys("]")
                self.i += 2
                parent = self.resolve(parts[:-1])
                aot = (*parent, parts[-1])
                index = self.aot_index.get(aot, -1) + 1
                self.aot_index[aot] = index
                table = (*aot, index)
                self.mark(aot, start)
                self.mark(table, start)
            elif self.peek() == "[":
                self.i += 1
                parts = self.keys("]")
                self.i += 1
                table = self.resolve(parts)
                self.mark(table, start)
            else:
                self.key_value(table)

    def resolve(self, parts: list[str]) -> Path:
        """A header's key path with the current index of each array of tables it goes through."""
        path: Path = ()
        for part in parts:
            path = (*path, part)
            if path in self.aot_index:
                path = (*path, self.aot_index[path])
        return path

    def keys(self, stop: str) -> list[str]:
        """A dotted key, up to (not past) `stop`, marking nothing."""
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            parts.append(self.key())
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                break
            self.i += 1
        if self.peek() != stop[0]:
            raise ValueError(f"expected {stop!r} at offset {self.i}")
        return parts

    def key(self) -> str:
        c = self.peek()
        if c in "\"'":
            start = self.i
            self.skip_string()
            raw = self.text[start + 1 : self.i - 1]
            return raw.encode().decode("unicode_escape") if c == '"' and "\\" in raw else raw
        m = _BARE_KEY.match(self.text, self.i)
        if m is None:
            raise ValueError(f"no key at offset {self.i}")
        self.i = m.end()
        return m.group()

    def key_value(self, table: Path) -> None:
        start = self.i
        keys = self.keys("=")
        for end in range(1, len(keys) + 1):  # a dotted key writes its tables here too
            self.mark((*table, *keys[:end]), start)
        path = (*table, *keys)
        self.i += 1
        self.skip_blank(newlines=False)
        self.value(path)

    def value(self, path: Path) -> None:
        c = self.peek()
        if c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.i += 1
                    return
                self.mark((*path, index), self.i)
                self.value((*path, index))
                index += 1
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_blank(newlines=False)
                if self.peek() == "}":
                    self.i += 1
                    return
                self.key_value(path)
                self.skip_blank(newlines=False)
                if self.peek() == ",":
                    self.i += 1
        elif c in "\"'":
            self.skip_string()
        else:
            m = _SCALAR_END.search(self.text, self.i)
            self.i = len(self.text) if m is None else m.start()

    def skip_string(self) -> None:
        quote = self.peek()
        text = self.text
        if self.peek(3) == quote * 3:
            end = text.find(quote * 3, self.i + 3)
            if quote == '"':
                while text[end - 1] == "\\" and not _escaped_backslashes(text, end):
                    end = text.find(quote * 3, end + 1)
            self.i = end + 3
            # up to two more quotes may close the string (`""""` ends with a quote in it)
            while self.peek() == quote:
                self.i += 1
            return
        j = self.i + 1
        while text[j] != quote:
            j += 2 if quote == '"' and text[j] == "\\" else 1
        self.i = j + 1


def _escaped_backslashes(text: str, end: int) -> bool:
    """Whether the backslashes just before `end` are an even run (they escape each other)."""
    n = 0
    while text[end - 1 - n] == "\\":
        n += 1
    return n % 2 == 0
