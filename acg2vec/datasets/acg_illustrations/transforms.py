"""Posts -> image examples of ``acg_illustrations``: the DoFns, the one Beam pipeline of the build and the side files
it writes beside the shards (vocabulary, outcome counts, dead letters).

Memory design. Beam's local runner holds in memory every group-by, every side input and every PCollection that
passes from one fused stage to the next. :class:`BuildImageExamples` therefore lets no per-post record cross a
stage boundary: it runs three passes in one pipeline, each handing the next hash-partitioned bucket files
(:class:`acg2vec.beam_pipelines.buckets.WriteBuckets`: Beam's ``fileio``, any Beam file system):

1. **bucket** (map only): read, parse and filter the posts; each surviving slim record (:class:`ImageRecord`,
   no image bytes) goes to bucket ``crc32(md5) mod N``, so every copy of an image shares a bucket. Pixiv
   popularity items go to buckets by pixiv id.
2. **dedup**, one md5 bucket at a time per worker: the lowest id per md5 is kept; the unique records go to
   *join buckets* by the pixiv id of their source (else by their own id).
3. **join and decode**, one join bucket at a time per worker: the bucket's pixiv items (newest fetch per
   illustration) are joined, every file is read, decoded, resized and encoded, and the examples go, split by
   id, straight into TFRecord shards without a group-by (see :mod:`acg2vec.datasets.acg_illustrations.build`).

A pass waits for the one before through a side input (the number of bucket files written), so it starts only
when every bucket is complete. What does cross stages is small: file results, bucket numbers, outcome counts
(each counted inside the step that makes the outcome), the tag list (one category per tag) and the tag counts
for the vocabulary (one per distinct tag). Dead letters are written by the step that makes them. Peak memory
is one bucket per worker, and the bucket count grows with the input
(:func:`bucket_count`); the count does not change the examples.
Measured with ``benchmarks/build_images.py`` on 2 workers: peak RSS of all processes 1,331 MiB for 2,000 posts
and 1,398 MiB for 20,000 in one run, 1,330 and 1,324 MiB in another (a one-pass design: 1.27 and 1.48 GiB).

Steps (each labelled, each drop a Beam counter ``acg2vec:<step>-<reason>`` and a dead-letter record):
``Posts`` (read, decode, parse) -> ``FilterPosts`` (tag categories from ``Tags``) -> ``DedupByMd5`` ->
``JoinPixiv`` -> ``DecodeResize<Split>`` -> ``SplitById`` (and ``CountTags`` -> ``ChooseVocabulary`` on the
train split). TFDS's own Beam path (the builder's ``download_and_prepare``) runs the same transform.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from acg2vec.beam_pipelines import buckets, files, raw_io
from acg2vec.beam_pipelines.dead_letters import DEAD, count, drop, write_dead_letters_by_step
from acg2vec.crawlers.items import Post
from acg2vec.datasets.acg_illustrations.images import ImageRules, process_file
from acg2vec.datasets.acg_illustrations.records import (
    UNKNOWN_SPLIT,
    ImageBuildConfig,
    ImageRecord,
    PostDrop,
    dedup_records,
    join_pixiv,
    latest_popularity,
    pixiv_join_key,
    pixiv_popularity,
    post_join_key,
    post_summary,
    post_to_record,
    record_from_json,
    record_to_json,
    summarize_outcomes,
    tag_keys,
)
from acg2vec.datasets.acg_illustrations.schema import BUILD_COUNTS_FILE, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import csv_sha256
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules, choose_vocabulary
from acg2vec.imaging import ImageDrop
from acg2vec.vocabularies import TAG_CATEGORIES

DECODE_STEP = "DecodeResize"  # per split: DecodeResizeTrain, DecodeResizeValidation ...
BUCKET_FOLDERS = ("md5", "join", "pixiv")  # the three kinds of bucket files, under the build's work folder
# One bucket per BUCKET_BYTES of compressed post and pixiv shards (about 10,000 posts): a bucket's records
# then take some tens of MiB in a worker. At most MAX_BUCKETS, since a local worker keeps one file open per
# bucket while it writes them.
BUCKET_BYTES = 4 * 1024 * 1024
MIN_BUCKETS = 4
MAX_BUCKETS = 512


def bucket_count(raw_root: str) -> int:
    """The bucket count for this input: grows with the compressed size of the post and pixiv shards."""
    total = 0
    for pattern in (
        raw_io.shard_pattern(files.join(raw_root, "safebooru"), "post"),
        raw_io.shard_pattern(files.join(raw_root, "pixiv"), "illust"),
    ):
        total += sum(size for _, size in files.match(pattern))
    return buckets.auto_bucket_count(total, BUCKET_BYTES, MIN_BUCKETS, MAX_BUCKETS)


def decode_step(split: str) -> str:
    """The step name (and counter prefix) of decoding one split's images, e.g. ``DecodeResizeTrain``."""
    return f"{DECODE_STEP}{split.capitalize()}"


class FilterPosts(beam.DoFn):
    """Post -> :class:`ImageRecord`; filtered posts go to the ``dead`` output (reasons: ``POST_DROP_REASONS``)."""

    def __init__(self, raw_dir: str, config: ImageBuildConfig) -> None:
        self.raw_dir = raw_dir
        self.config = config

    def process(self, post: Post, tag_categories: dict[str, str] | None = None):
        try:
            yield post_to_record(post, raw_dir=self.raw_dir, config=self.config, tag_categories=tag_categories)
        except PostDrop as err:
            split = self.config.splits.split_of(post.id)
            yield drop("FilterPosts", err.reason, post_summary(post), detail=err.detail, split=split)


def _duplicate(record: ImageRecord, kept: int) -> beam.pvalue.TaggedOutput:
    detail = f"same md5 as post {kept}"
    return drop("DedupByMd5", "duplicate-md5", asdict(record), detail=detail, split=record.split)


def decode_record(record: ImageRecord, rules: ImageRules, step: str):
    """Yields ``(record, jpeg bytes)``, or a dead letter on the ``dead`` output; counts under ``step``."""
    try:
        jpeg = process_file(record.file_path, rules, record.file_md5)
    except ImageDrop as err:
        yield drop(step, err.reason, asdict(record), detail=err.detail, split=record.split)
        return
    count(step, "written")
    yield record, jpeg


class DedupBucket(beam.DoFn):
    """Pass 2: md5 bucket number -> ``(join bucket, record line)`` per unique post; duplicates go to ``dead``.

    ``ready`` is a side input (the number of pass-1 bucket files): it only makes this step wait until pass 1
    has written every bucket.
    """

    def __init__(self, md5_dir: str, num_buckets: int) -> None:
        self.md5_dir = md5_dir
        self.num_buckets = num_buckets

    def process(self, bucket: int, ready: int):
        lines = buckets.read_bucket(self.md5_dir, bucket)
        kept, duplicates = dedup_records(record_from_json(line) for line in lines)
        for duplicate, kept_id in duplicates:
            yield _duplicate(duplicate, kept_id)
        for record in kept:
            yield buckets.bucket_of(post_join_key(record), self.num_buckets), record_to_json(record)


class JoinDecodeBucket(beam.DoFn):
    """Pass 3: join bucket number -> ``(record, jpeg)`` per post, pixiv popularity filled; bad files go to ``dead``.

    A post and the pixiv illustration its source names are in the same join bucket, so the join holds one
    bucket's illustrations, never the whole pixiv crawl. Posts are decoded in id order. ``pixiv_dir`` None: no
    pixiv join. ``ready``: a side input that makes this step wait for passes 1 and 2.
    """

    def __init__(self, post_dir: str, pixiv_dir: str | None, rules: ImageRules) -> None:
        self.post_dir = post_dir
        self.pixiv_dir = pixiv_dir
        self.rules = rules

    def setup(self) -> None:
        # Pillow raises on truncated files only when this stays False (its default); make it explicit.
        from PIL import ImageFile

        ImageFile.LOAD_TRUNCATED_IMAGES = False

    def process(self, bucket: int, ready: int):
        popularity = latest_popularity(buckets.read_bucket(self.pixiv_dir, bucket)) if self.pixiv_dir else None
        lines = buckets.read_bucket(self.post_dir, bucket)
        for record in sorted((record_from_json(line) for line in lines), key=lambda r: r.id):
            if popularity is not None and join_pixiv(record, popularity):
                count("JoinPixiv", "joined")
            yield from decode_record(record, self.rules, decode_step(record.split))


def tag_category_pairs(tag) -> list[tuple[str, str]]:
    return [(tag.name, tag.category)] if tag.category in TAG_CATEGORIES else []


@dataclass(slots=True)
class ImageBuildOutputs:
    """What :class:`BuildImageExamples` returns.

    ``images``: per split, ``(ImageRecord, jpeg bytes)``. ``dead``: the dead-letter records of each step by step
    name (``Posts``, ``Tags``, ``Pixiv``, ``FilterPosts``, ``DedupByMd5``, ``DecodeResize``), to be written where
    they are made. ``outcome_counts``: ``((group, split, outcome), n)`` partial counts, each counted in the step
    that made the outcome; summed, ``read == written + dropped``. ``vocabulary_csv``: one string.
    """

    images: dict[str, beam.PCollection]
    dead: dict[str, beam.PCollection]
    outcome_counts: beam.PCollection
    vocabulary_csv: beam.PCollection


class BuildImageExamples(beam.PTransform):
    """raw/ -> per-split images, dead letters, counts and vocabulary, in three passes over bucket files.

    What crosses from one step to another through the runner is small (file results, counts, bucket
    numbers, the tag list); the posts travel through ``work_dir`` (see the module doc). ``num_buckets`` does not
    change the result, only how much one bucket holds. ``max_writers``: see
    :class:`acg2vec.beam_pipelines.buckets.WriteBuckets`. ``shards``: the raw shards to read by item kind
    (``post``, ``tag``, ``illust``), once checked whole (:mod:`acg2vec.beam_pipelines.raw_shards`); None reads
    every shard of ``raw_root`` by pattern (a job described, not run).
    """

    def __init__(
        self,
        raw_root: str,
        config: ImageBuildConfig,
        work_dir: str,
        *,
        num_buckets: int,
        max_writers: int = 20,
        with_pixiv: bool = True,
        shards: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.raw_root = raw_root
        self.shards = shards
        self.config = config
        self.work_dir = work_dir
        self.num_buckets = num_buckets
        self.max_writers = max_writers
        self.with_pixiv = with_pixiv
        self.md5_dir, self.join_dir, self.pixiv_dir = (FileSystems.join(work_dir, name) for name in BUCKET_FOLDERS)

    def expand(self, pbegin: beam.pvalue.PBegin) -> ImageBuildOutputs:
        dead: dict[str, beam.PCollection] = {}
        outcomes: list[beam.PCollection] = []
        # 1. bucket (map only): parse and filter posts; slim records to md5 buckets, pixiv items to pixiv buckets.
        md5_files, pixiv_files = self._bucket_pass(pbegin, dead, outcomes)
        # 2. dedup: one md5 bucket at a time, keep the lowest id per md5; unique posts to join buckets.
        join_files = self._dedup_pass(pbegin, md5_files, dead, outcomes)
        # 3. join and decode: one join bucket at a time, join pixiv, decode, resize, encode; split by id.
        images = self._join_decode_pass(pbegin, [join_files, *pixiv_files], dead, outcomes)
        return ImageBuildOutputs(
            images=images,
            dead=dead,
            outcome_counts=outcomes | "AllOutcomeCounts" >> beam.Flatten(),
            vocabulary_csv=_vocabulary(pbegin, images, self.config.vocabulary),
        )

    def _inputs(self, source_dir: str, kind: str) -> str | list[str]:
        """The checked shards of one item kind, else its pattern."""
        if self.shards is None:
            return raw_io.shard_pattern(source_dir, kind)
        return self.shards.get(kind, [])

    def _write_buckets(self, directory: str) -> buckets.WriteBuckets:
        return buckets.WriteBuckets(directory, max_writers=self.max_writers)

    def _bucket_pass(self, pbegin, dead: dict, outcomes: list) -> tuple[beam.PCollection, list[beam.PCollection]]:
        """Posts (with the crawl's tag categories) -> md5 bucket files; pixiv items -> pixiv bucket files.

        Returns the md5 buckets' file results and those of the pixiv buckets (none without pixiv)."""
        n = self.num_buckets
        safebooru = FileSystems.join(self.raw_root, "safebooru")
        posts = pbegin | "Posts" >> raw_io.ReadItems(self._inputs(safebooru, "post"), kind="post", step="Posts")
        # Tag categories from the crawl's tag list (DAPI posts carry bare tag names): a side input of one short
        # string per tag, bounded by the site's tag count, not by the number of images.
        tags = pbegin | "Tags" >> raw_io.ReadItems(self._inputs(safebooru, "tag"), kind="tag", step="Tags")
        categories = (
            tags.items
            | "TagCategory" >> beam.FlatMap(tag_category_pairs)
            | "OneCategoryPerTag" >> beam.CombinePerKey(max)  # a tag listed twice: a deterministic choice
        )
        filtered = posts.items | "FilterPosts" >> beam.ParDo(
            FilterPosts(safebooru, self.config), tag_categories=beam.pvalue.AsDict(categories)
        ).with_outputs(DEAD, main="records")
        md5_files = (
            filtered.records
            | "KeyByMd5Bucket" >> beam.Map(lambda r: (buckets.bucket_of(r.md5, n), record_to_json(r)))
            | "Md5Buckets" >> self._write_buckets(self.md5_dir)
        )
        dead.update({"Posts": posts.dead, "FilterPosts": filtered[DEAD], "Tags": tags.dead})
        outcomes += [
            _count_outcomes(posts.dead, "PostParse", lambda d: ("posts", UNKNOWN_SPLIT, d["reason"])),
            _count_outcomes(filtered[DEAD], "Filter", lambda d: ("posts", d["split"], d["reason"])),
            _count_outcomes(tags.dead, "TagDrop", lambda d: ("tags", UNKNOWN_SPLIT, d["reason"])),
            _count_outcomes(tags.items, "TagRead", lambda _: ("tags", UNKNOWN_SPLIT, "parsed")),
        ]
        if not self.with_pixiv:
            return md5_files, []
        # raw/pixiv is optional: no shards there means no popularity targets (-1).
        pixiv = self._inputs(FileSystems.join(self.raw_root, "pixiv"), "illust")
        illusts = pbegin | "Pixiv" >> raw_io.ReadItems(pixiv, kind="illust", step="Pixiv")
        pixiv_files = (
            illusts.items
            | "KeyByPixivBucket"
            >> beam.Map(lambda i: (buckets.bucket_of(pixiv_join_key(i.id), n), json.dumps(pixiv_popularity(i))))
            | "PixivBuckets" >> self._write_buckets(self.pixiv_dir)
        )
        dead["Pixiv"] = illusts.dead
        outcomes.append(_count_outcomes(illusts.dead, "PixivDrop", lambda d: ("pixiv", UNKNOWN_SPLIT, d["reason"])))
        outcomes.append(_count_outcomes(illusts.items, "PixivRead", lambda _: ("pixiv", UNKNOWN_SPLIT, "parsed")))
        return md5_files, [pixiv_files]

    def _dedup_pass(self, pbegin, md5_files: beam.PCollection, dead: dict, outcomes: list) -> beam.PCollection:
        """Md5 bucket numbers -> join bucket files of the unique posts (once every md5 bucket is written)."""
        md5_ready = md5_files | "Md5BucketsWritten" >> beam.combiners.Count.Globally()
        unique = (
            pbegin
            | "Md5BucketNumbers" >> beam.Create(range(self.num_buckets))
            | "SpreadMd5Buckets" >> beam.Reshuffle()  # the local runner hands the buckets out to every worker
            | "DedupByMd5"
            >> beam.ParDo(
                DedupBucket(self.md5_dir, self.num_buckets), ready=beam.pvalue.AsSingleton(md5_ready)
            ).with_outputs(DEAD, main="records")
        )
        dead["DedupByMd5"] = unique[DEAD]
        outcomes.append(_count_outcomes(unique[DEAD], "Dedup", lambda d: ("posts", d["split"], d["reason"])))
        return unique.records | "JoinBuckets" >> self._write_buckets(self.join_dir)

    def _join_decode_pass(self, pbegin, join_inputs: list, dead: dict, outcomes: list) -> dict[str, beam.PCollection]:
        """Join bucket numbers -> ``(record, jpeg)`` per split (once the join and pixiv buckets are written)."""
        join_ready = (
            join_inputs | "JoinInputsWritten" >> beam.Flatten() | "CountJoinInputs" >> beam.combiners.Count.Globally()
        )
        join = JoinDecodeBucket(self.join_dir, self.pixiv_dir if self.with_pixiv else None, self.config.image_rules)
        decoded = (
            pbegin
            | "JoinBucketNumbers" >> beam.Create(range(self.num_buckets))
            | "SpreadJoinBuckets" >> beam.Reshuffle()
            | "JoinPixivDecodeResize"
            >> beam.ParDo(join, ready=beam.pvalue.AsSingleton(join_ready)).with_outputs(DEAD, main="images")
        )
        dead[DECODE_STEP] = decoded[DEAD]
        outcomes.append(_count_outcomes(decoded[DEAD], "Decode", lambda d: ("posts", d["split"], d["reason"])))
        outcomes.append(_count_outcomes(decoded.images, "Written", lambda ri: ("posts", ri[0].split, "written")))
        names = self.config.splits.names
        by_split = decoded.images | "SplitById" >> beam.Partition(lambda ri, _: names.index(ri[0].split), len(names))
        return {name: by_split[index] for index, name in enumerate(names)}


def _count_outcomes(pcoll: beam.PCollection, label: str, outcome) -> beam.PCollection:
    """``((group, split, outcome), n)`` counted where the outcome is made (fused into that step): only a few keys
    move on."""
    return (
        pcoll | f"{label}Outcomes" >> beam.Map(outcome) | f"Count{label}Outcomes" >> beam.combiners.Count.PerElement()
    )


def _vocabulary(pbegin, images: dict[str, beam.PCollection], rules: VocabularyRules) -> beam.PCollection:
    """``selected_tags.csv`` text, counted on the train examples that were written (after every drop), tags only:
    no image bytes move."""
    train = images["train"] if "train" in images else pbegin | "NoTrain" >> beam.Create([])
    return (
        train
        | "TagKeys" >> beam.FlatMap(lambda record_and_jpeg: tag_keys(record_and_jpeg[0]))
        | "CountTags" >> beam.combiners.Count.PerElement()
        | "AllTagCounts" >> beam.combiners.ToList()  # one count per distinct tag
        | "ChooseVocabulary" >> beam.Map(lambda counts: choose_vocabulary(counts, rules).to_csv())
    )


def write_side_outputs(outputs: ImageBuildOutputs, out_dir: str) -> None:
    """Write the vocabulary (+ hash), the outcome counts and the dead letters into ``out_dir``."""

    def write_vocabulary(text: str) -> None:
        files.write_text(files.join(out_dir, SELECTED_TAGS_FILE), text)
        files.write_text(files.join(out_dir, SELECTED_TAGS_FILE + ".sha256"), csv_sha256(text) + "\n")

    def write_counts(outcomes: list) -> None:
        files.write_text(files.join(out_dir, BUILD_COUNTS_FILE), json.dumps(summarize_outcomes(outcomes), indent=1))

    _ = outputs.vocabulary_csv | "WriteVocabulary" >> beam.Map(write_vocabulary)
    _ = (
        outputs.outcome_counts
        | "SumOutcomes" >> beam.CombinePerKey(sum)
        | "AllOutcomeCountsList" >> beam.combiners.ToList()
        | "WriteCounts" >> beam.Map(write_counts)
    )
    write_dead_letters_by_step(out_dir, outputs.dead)
