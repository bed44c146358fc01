"""Reading crawl item shards (``raw/<source>/<kind>-*.jsonl.gz``) in Beam, every bad line dead-lettered.

- :func:`shard_pattern` / :func:`has_shards` — the file pattern of one item kind and whether it matches anything.
- :class:`ReadRawLines` — the non-blank lines of the matching shards, decoded one by one: a line that is not
  UTF-8 is dead-lettered as ``undecodable-utf8`` (one bad byte never stops a build). Counts ``<step>-read``.
- :class:`ReadItems` — those lines validated as items of one kind (:class:`ItemOutputs`: ``.items`` and ``.dead``).

Paths may be local or any file system Beam supports (gs://, s3://, hdfs://).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from acg2vec.beam_pipelines.dead_letters import DEAD, count, drop
from acg2vec.beam_pipelines.files import match
from acg2vec.crawlers.items import ItemError, item_from_dict

UNDECODABLE = "undecodable-utf8"


def shard_pattern(raw_source_dir: str, kind: str) -> str:
    """The glob of one item kind's shards in ``raw/<source>/``, e.g. ``.../raw/safebooru/post-*.jsonl.gz``."""
    return FileSystems.join(raw_source_dir, f"{kind}-*.jsonl.gz")


def has_shards(pattern: str) -> bool:
    """True when ``pattern`` matches at least one file."""
    return bool(match(pattern))


def decode_line(raw: bytes) -> str:
    """One raw line as text; raises ``UnicodeDecodeError`` for bytes that are not UTF-8."""
    return raw.decode("utf-8").rstrip("\r\n")


class DecodeLines(beam.DoFn):
    """Raw line bytes -> text; blank lines are skipped, lines that are not UTF-8 go to ``dead``."""

    def __init__(self, step: str) -> None:
        self.step = step

    def process(self, raw: bytes):
        if not raw.strip():
            return
        count(self.step, "read")
        try:
            yield decode_line(raw)
        except UnicodeDecodeError as err:
            yield drop(self.step, UNDECODABLE, raw, detail=str(err))


@dataclass(slots=True)
class LineOutputs:
    lines: beam.PCollection
    dead: beam.PCollection


class ReadRawLines(beam.PTransform):
    """The non-blank lines of every file matching ``patterns``, decoded per line (see the module doc)."""

    def __init__(self, patterns: str | Iterable[str], *, step: str) -> None:
        super().__init__()
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.step = step

    def expand(self, pbegin: beam.pvalue.PBegin) -> LineOutputs:
        # Patterns are matched when the job runs, not while it is described (no file-system access, no
        # credentials); a wildcard that matches nothing reads no lines. Bytes, so one bad line is one drop.
        decoded = (
            pbegin
            | f"{self.step}Patterns" >> beam.Create(self.patterns)
            | f"Read{self.step}" >> beam.io.ReadAllFromText(coder=beam.coders.BytesCoder())
            | f"Decode{self.step}" >> beam.ParDo(DecodeLines(self.step)).with_outputs(DEAD, main="lines")
        )
        return LineOutputs(lines=decoded.lines, dead=decoded[DEAD])


def read_lines(path: str, step: str, on_drop) -> Iterator[str]:
    """The non-blank, decoded lines of one raw file outside Beam; ``on_drop(reason, raw, detail)`` for bad ones."""
    with FileSystems.open(path) as fh:  # compression from the name (.gz)
        for raw in iter(fh.readline, b""):
            if not raw.strip():
                continue
            try:
                yield decode_line(raw)
            except UnicodeDecodeError as err:
                on_drop(UNDECODABLE, raw, str(err))


class ParseItems(beam.DoFn):
    """JSON line -> validated item of ``kind``; bad lines go to the ``dead`` output with a named reason.

    Reasons: ``bad-json``, ``wrong-kind`` and the :class:`ItemError` reasons (``missing-field``, ``wrong-type``,
    ``unknown-kind``, ``not-an-object``).
    """

    def __init__(self, kind: str, step: str) -> None:
        self.kind = kind
        self.step = step

    def process(self, line: str):
        try:
            data = json.loads(line)
        except ValueError as err:
            yield drop(self.step, "bad-json", line, detail=str(err))
            return
        try:
            item = item_from_dict(data)
        except ItemError as err:
            yield drop(self.step, err.reason, data, detail=err.detail)
            return
        if item.kind != self.kind:
            yield drop(self.step, "wrong-kind", data, detail=f"expected {self.kind}, got {item.kind}")
            return
        yield item


@dataclass(slots=True)
class ItemOutputs:
    """What :class:`ReadItems` returns: validated items and dead-letter records."""

    items: beam.PCollection
    dead: beam.PCollection


class ReadItems(beam.PTransform):
    """Read ``*.jsonl.gz`` item shards matching ``pattern`` (or a list of patterns or paths: the shards a build
    checked whole, :mod:`acg2vec.beam_pipelines.raw_shards`) and validate each line as an item of ``kind``.

    No matching shard means no items (check with :func:`has_shards` first where that is a mistake). Counts
    ``<step>-read`` per non-blank line and ``<step>-<reason>`` per bad one.
    """

    def __init__(self, pattern: str | Iterable[str], *, kind: str, step: str | None = None) -> None:
        super().__init__()
        self.pattern = pattern if isinstance(pattern, str) else list(pattern)
        self.kind = kind
        self.step = step or kind

    def expand(self, pbegin: beam.pvalue.PBegin) -> ItemOutputs:
        lines = pbegin | f"Lines{self.step}" >> ReadRawLines(self.pattern, step=self.step)
        parsed = lines.lines | f"Parse{self.step}" >> beam.ParDo(ParseItems(self.kind, self.step)).with_outputs(
            DEAD, main="items"
        )
        dead = (lines.dead, parsed[DEAD]) | f"Dead{self.step}" >> beam.Flatten()
        return ItemOutputs(items=parsed.items, dead=dead)
