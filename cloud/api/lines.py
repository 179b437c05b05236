"""Reading back the line protocol the ingest wrote, for the live stream.

The stream shows what InfluxDB accepted, so it taps the writes rather than the pipeline's
internals. This parser handles everything cloud/influx/line.py produces: escaped tag keys
and values, quoted strings with escapes, integers (`i`), floats and booleans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r",((?:[^,=\\]|\\.)+)=((?:[^,\\ ]|\\.)*)")
_FIELD = re.compile(r'((?:[^,=\\ ]|\\.)+)=("(?:[^"\\]|\\.)*"|[^,"]+)(,|$)')
_UNESCAPE = re.compile(r"\\(.)")


class LineError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WrittenPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | bool | str]
    time_us: int


_HEAD = re.compile(r"(?:[^ \\]|\\.)+")


def split_head(line: str) -> tuple[str, str, str]:
    """(measurement and tags, field set, time): the head ends at the first unescaped
    space; the time follows the last space (string fields may hold spaces, times do not)."""
    m = _HEAD.match(line)
    if m is None or m.end() >= len(line):
        raise LineError(f"no fields in line {line[:80]!r}")
    fields, _, time_text = line[m.end() + 1 :].rpartition(" ")
    return m.group(0), fields, time_text


def tags_of(line: str) -> dict[str, str]:
    """A line's tags, without reading its fields (a cycle line has thirty-odd)."""
    m = _HEAD.match(line)
    head = m.group(0) if m else ""
    name = re.match(r"(?:[^,\\]|\\.)+", head)
    if name is None:
        raise LineError(f"no measurement in line {line[:80]!r}")
    return {_unescape(k): _unescape(v) for k, v in _TAG.findall(head, name.end())}


def parse_line(line: str) -> WrittenPoint:
    head, fields_text, time_text = split_head(line)
    m = re.match(r"(?:[^,\\]|\\.)+", head)
    if m is None:
        raise LineError(f"no measurement in line {line[:80]!r}")
    measurement = _unescape(m.group(0))
    tags = {_unescape(k): _unescape(v) for k, v in _TAG.findall(head, m.end())}
    fields: dict[str, float | int | bool | str] = {}
    pos = 0
    while pos < len(fields_text):
        fm = _FIELD.match(fields_text, pos)
        if fm is None:
            raise LineError(f"bad field set in line {line[:80]!r}")
        try:
            fields[_unescape(fm.group(1))] = _value(fm.group(2))
        except ValueError:
            raise LineError(f"bad field value in line {line[:80]!r}") from None
        pos = fm.end()
    try:
        time_us = int(time_text)
    except ValueError:
        raise LineError(f"bad timestamp in line {line[:80]!r}") from None
    return WrittenPoint(measurement, tags, fields, time_us)


def _value(text: str) -> float | int | bool | str:
    if text.startswith('"'):
        return _UNESCAPE.sub(r"\1", text[1:-1])
    if text.endswith("i"):
        return int(text[:-1])
    if text in ("true", "false"):
        return text == "true"
    return float(text)


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)
