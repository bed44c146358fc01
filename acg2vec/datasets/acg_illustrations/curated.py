"""A curated version of ``acg_illustrations``: an existing version's examples with a curation run's fixes applied.

``acg2vec build images --apply-curation curation/<run>`` (:func:`acg2vec.datasets.acg_illustrations.build.apply_curation`)
reads the version the run was made for and writes a new one beside it; the old version and the raw crawl are never
changed. What a run changes, after the user's thresholds, is a :class:`CurationEdits`:

- a ``missing`` label issue at or above ``min_confidence`` adds its tag to the post, a ``wrong`` one removes it
  (in the example's field for the tag's category: ``tags``, ``characters``, ``copyrights`` or ``artists``);
- with ``drop_duplicates``, every near-duplicate group keeps one post: the one in the earliest split of the
  dataset's split order (train first), the lowest id among those; the others are dropped. No group then spans two
  splits, so test holds no copy of a training picture.

Each example is decoded as a ``tf.train.Example`` proto, its tag lists edited and written back: the image bytes and
every other feature pass through untouched. The vocabulary keeps the source's tags in the source's order (models
trained on either version share their outputs), each recounted on the curated train split. Every post read is written or dropped under a named reason (a Beam
counter ``acg2vec:ApplyCuration<Split>-<outcome>`` and a dead letter), so read = written + dropped per split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import apache_beam as beam

from acg2vec.beam_pipelines.dead_letters import count, drop

STEP = "ApplyCuration"
NEAR_DUPLICATE = "near-duplicate"
# The example field each tag category is listed in (as the tiny writer and the builder use them).
CATEGORY_FIELDS = {"general": "tags", "character": "characters", "copyright": "copyrights", "artist": "artists"}


def step_name(split: str) -> str:
    """The step (and counter prefix) of one split, e.g. ``ApplyCurationTrain``."""
    return f"{STEP}{split.capitalize()}"


@dataclass(frozen=True, slots=True)
class CurationEdits:
    """What a run changes in a version: per post, ``(field, tag)`` pairs to add and to remove; posts to drop, each
    with the post its group keeps."""

    add: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    remove: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    drop: dict[int, int] = field(default_factory=dict)


def curation_edits(
    issues,
    duplicates,
    categories: Mapping[str, str],
    *,
    split_order: Sequence[str] = ("train", "validation", "test"),
) -> tuple[CurationEdits, dict[str, int]]:
    """The edits of a run's label issues (a frame, already filtered by confidence) and duplicate group members (a
    frame; empty when duplicates are kept) for a vocabulary whose tag -> category is ``categories``.

    Returns the edits and what was left out: ``issues_outside_vocabulary`` (a tag the version's vocabulary lacks)
    and ``issues_unknown_category`` (a category no example field holds)."""
    add: dict[int, list[tuple[str, str]]] = {}
    remove: dict[int, list[tuple[str, str]]] = {}
    skipped = {"issues_outside_vocabulary": 0, "issues_unknown_category": 0}
    for post_id, tag, kind in zip(issues["post_id"], issues["tag"], issues["kind"], strict=True):
        category = categories.get(tag)
        if category is None:
            skipped["issues_outside_vocabulary"] += 1
            continue
        if category not in CATEGORY_FIELDS:
            skipped["issues_unknown_category"] += 1
            continue
        target = add if kind == "missing" else remove
        target.setdefault(int(post_id), []).append((CATEGORY_FIELDS[category], str(tag)))
    rank = {name: i for i, name in enumerate(split_order)}
    dropped: dict[int, int] = {}
    for _, group in duplicates.groupby("group_id"):
        members = sorted(zip(group["split"], group["post_id"], strict=True), key=lambda m: (rank.get(m[0], 99), m[1]))
        kept = int(members[0][1])
        dropped.update({int(post_id): kept for _, post_id in members[1:]})
    edits = CurationEdits(
        add={k: tuple(sorted(v)) for k, v in add.items()},
        remove={k: tuple(sorted(v)) for k, v in remove.items()},
        drop=dropped,
    )
    return edits, skipped


def edit_example(serialized: bytes, edits: CurationEdits) -> tuple[int, bytes | None, dict[str, int]]:
    """One serialized example -> its post id, the edited bytes (None: dropped as a near-duplicate) and the changes
    made, as ``{"added-<field>": n, "removed-<field>": n}`` (a tag already present is not added again, an absent
    one not removed)."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    features = example.features.feature
    post_id = int(features["id"].int64_list.value[0])
    if post_id in edits.drop:
        return post_id, None, {}
    changes: dict[str, int] = {}
    for kind, pairs in (("removed", edits.remove.get(post_id, ())), ("added", edits.add.get(post_id, ()))):
        for name, tag in pairs:
            values = features[name].bytes_list.value
            tags = [v.decode("utf-8") for v in values]
            if (tag in tags) == (kind == "removed"):
                tags = [t for t in tags if t != tag] if kind == "removed" else [*tags, tag]
                del values[:]
                values.extend(t.encode("utf-8") for t in tags)
                changes[f"{kind}-{name}"] = changes.get(f"{kind}-{name}", 0) + 1
    if not changes:
        return post_id, serialized, changes
    return post_id, example.SerializeToString(), changes


class ApplyCuration(beam.DoFn):
    """Serialized examples of one split -> edited examples; near-duplicates dropped to the ``dead`` output."""

    def __init__(self, edits: CurationEdits, split: str) -> None:
        self.edits = edits
        self.split = split
        self.step = step_name(split)

    def process(self, serialized: bytes):
        count(self.step, "read")
        post_id, edited, changes = edit_example(serialized, self.edits)
        if edited is None:
            kept = self.edits.drop[post_id]
            record = {"id": post_id, "kept": kept}
            yield drop(self.step, NEAR_DUPLICATE, record, detail=f"near-duplicate of post {kept}", split=self.split)
            return
        for name, n in changes.items():
            count(self.step, name, n)
        count(self.step, "written")
        yield edited


def example_tags(serialized: bytes) -> list[str]:
    """The tags in an example's four tag fields (what the vocabulary counts)."""
    import tensorflow as tf

    features = tf.train.Example.FromString(serialized).features.feature
    return [v.decode("utf-8") for name in CATEGORY_FIELDS.values() for v in features[name].bytes_list.value]


def recounted_vocabulary_csv(vocabulary, counts: list[tuple[str, int]]) -> str:
    """``selected_tags.csv`` of a curated version: the source's tags in the source's order (so models trained on
    either version share their outputs), each with its count of training images after the fixes."""
    from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

    found = dict(counts)
    names, categories = vocabulary.names, vocabulary.categories
    return TagVocabulary(list(names), list(categories), [int(found.get(n, 0)) for n in names]).to_csv()


def curated_counts(metrics: Mapping[str, int], splits: Sequence[str]) -> dict[str, dict]:
    """The ``posts`` counts of a curated version (read = written + dropped, by split and reason) and the tags
    ``added`` / ``removed`` by field and split, from the pipeline's counters."""
    posts = {"read": 0, "written": 0, "dropped": 0, "by_reason": {}, "by_split": {}}
    tags: dict[str, dict[str, dict[str, int]]] = {"added": {}, "removed": {}}
    for split in splits:
        prefix = step_name(split) + "-"
        mine = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
        read, written, dropped = mine.get("read", 0), mine.get("written", 0), mine.get(NEAR_DUPLICATE, 0)
        posts["read"] += read
        posts["written"] += written
        posts["dropped"] += dropped
        if dropped:
            posts["by_reason"][NEAR_DUPLICATE] = posts["by_reason"].get(NEAR_DUPLICATE, 0) + dropped
        posts["by_split"][split] = {"written": written, **({NEAR_DUPLICATE: dropped} if dropped else {})}
        for name, n in mine.items():
            kind, _, field_name = name.partition("-")
            if kind in tags and field_name:
                tags[kind].setdefault(field_name, {})[split] = n
    return {"posts": posts, "tags": tags}
