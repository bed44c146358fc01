"""The row contract of ``acg_entities`` and where the table lives in a workspace.

``<workdir>/datasets/acg_entities/<VERSION>/``:

- ``entities.parquet``: one row per entity (:class:`Entity`), zstd;
- ``tag_links.parquet``: image-dataset copyright / character tags linked to entities (:class:`TagLink`);
- ``README.md`` (the dataset card), ``dead_letters/`` (records the linker refused, with a reason) and
  ``build_metadata.json``, written last: a folder without it is not complete.

An ``entity_id`` is ``<kind>:<12 hex digits>``, the md5 of the entity's anchor record (its best-ranked source
and that source's id, :func:`entity_id`), so it stays the same across rebuilds as long as that record is crawled,
whatever else joins or leaves the entity.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

NAME = "acg_entities"
VERSION = "1.0.0"
KINDS = ("work", "character", "person")
# Canonical title languages, in the order a reader prefers them.
TITLE_LANGS = ("ja", "zh-Hans", "zh-Hant", "en", "romaji")
# Sources, best first: the anchor record of an entity (whose id names it) is from the first source it has.
SOURCES = ("bangumi", "animelist", "wikipedia", "moegirl", "pixiv")
ENTITIES_FILE = "entities.parquet"
TAG_LINKS_FILE = "tag_links.parquet"
BUILD_METADATA = "build_metadata.json"
BUILD_COMMAND = "acg2vec build entities"
# How a record joined its entity (Evidence.method).
SEED, ID_LINK, MATCH = "seed", "id-link", "match"


@dataclass(slots=True)
class Evidence:
    """Why one record belongs to its entity.

    ``method``: ``seed`` (the entity's anchor record), ``id-link`` (a site id or wiki language link names another
    record of the entity: ``ids`` lists them, e.g. ``["wiki:ja=魔法猫", "mal=12"]``) or ``match`` (the
    probabilistic linker: ``match_weight`` in bits and ``match_probability`` of its best link into the entity,
    ``agreed`` the comparison fields that agreed, e.g. ``["title", "year", "type"]``, and ``linked_to`` the
    record it was linked to).
    """

    source: str
    source_id: str
    method: str
    match_weight: float | None = None
    match_probability: float | None = None
    agreed: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    linked_to: str = ""


@dataclass(slots=True)
class Entity:
    """One work, character or person as every crawled site describes it.

    ``titles``: canonical title (name) per language of :data:`TITLE_LANGS` that some record gives; ``aliases``:
    every other spelling seen (titles of other records, site aliases), de-duplicated, in first-seen order;
    ``sources``: ``(source, source_id)`` of every record merged, anchor first; ``evidence``: one
    :class:`Evidence` per record, in the order of ``sources``. For a character, ``works`` names the entity ids
    of its works and ``voice_actors`` those of its voice actors (empty for works and people).
    """

    entity_id: str
    kind: str
    titles: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    works: list[str] = field(default_factory=list)
    voice_actors: list[str] = field(default_factory=list)

    def title(self) -> str:
        """The title to show: the first of :data:`TITLE_LANGS` present, else the first alias, else the id."""
        for lang in TITLE_LANGS:
            if self.titles.get(lang):
                return self.titles[lang]
        return self.aliases[0] if self.aliases else self.entity_id

    def names(self) -> list[str]:
        """Every title and alias, de-duplicated, titles first."""
        return list(dict.fromkeys([*(t for t in self.titles.values() if t), *self.aliases]))


@dataclass(slots=True)
class TagLink:
    """An image-dataset tag (``category`` copyright or character) that names an entity; ``method`` says how
    (``pixiv-translation``: a pixiv tag translation names both; ``name``: the tag equals a title or alias after
    script normalisation)."""

    tag: str
    category: str
    entity_id: str
    method: str
    evidence: str = ""


def entity_id(kind: str, source: str, source_id: str) -> str:
    """``<kind>:<12 hex>``: the stable id of the entity anchored at record ``(source, source_id)``."""
    digest = hashlib.md5(f"{kind}\x1f{source}\x1f{source_id}".encode()).hexdigest()[:12]
    return f"{kind}:{digest}"


def kind_of(entity_id_: str) -> str:
    """The kind named by an entity id (``work:3f2a...`` -> ``work``)."""
    return entity_id_.partition(":")[0]


def entities_dir(where: Any) -> str:
    """Where the table lives: ``<workdir>/datasets/acg_entities/<VERSION>``.

    ``where``: a :class:`~acg2vec.workspace.Workspace`, a workdir, the workdir's ``datasets`` folder, the
    ``acg_entities`` folder, or the version folder itself (whichever holds the table is recognised by name).
    """
    if hasattr(where, "datasets") and callable(where.datasets):
        return f"{str(where.datasets()).rstrip('/')}/{NAME}/{VERSION}"
    root = os.path.expanduser(os.fspath(where)).rstrip("/")
    tail = root.rsplit("/", 2)
    if tail[-1] == VERSION and len(tail) > 1 and tail[-2] == NAME:
        return root
    if tail[-1] == NAME:
        return f"{root}/{VERSION}"
    if tail[-1] == "datasets":
        return f"{root}/{NAME}/{VERSION}"
    return f"{root}/datasets/{NAME}/{VERSION}"
