"""Write a tiny ``acg_text_pairs`` corpus in the exact Parquet layout, for the text trainer tests.

Fictional works are named by combining two words from a small ja / zh / en vocabulary ("魔法の騎士", "魔法的骑士",
"Magic Knight"), so held-out works are new combinations of words seen in training: a model can learn the
word translations (including katakana words with no character shared with their Chinese form, which the
lexical baseline cannot match) and carry them to works it has never seen.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from acg2vec.datasets.acg_text_pairs.schema import COLUMNS, SPLITS, parquet_dir
from acg2vec.trainers.text.configs import TextTrainConfig, tiny_for_tests

WORDS = [
    ("魔法", "魔法", "Magic"),
    ("少女", "少女", "Girl"),
    ("戦記", "战记", "Chronicle"),
    ("物語", "物语", "Story"),
    ("学園", "学园", "Academy"),
    ("ドラゴン", "龙", "Dragon"),
    ("騎士", "骑士", "Knight"),
    ("星", "星", "Star"),
    ("海", "大海", "Sea"),
    ("剣", "剑", "Sword"),
    ("恋", "恋爱", "Love"),
    ("猫", "猫", "Cat"),
    ("ロボット", "机器人", "Robot"),
    ("探偵", "侦探", "Detective"),
    ("アイドル", "偶像", "Idol"),
    ("王国", "王国", "Kingdom"),
    ("夏", "夏天", "Summer"),
    ("夜", "夜晚", "Night"),
    ("花", "花", "Flower"),
    ("冒険", "冒险", "Adventure"),
    ("忍者", "忍者", "Ninja"),
    ("宇宙", "宇宙", "Space"),
    ("姫", "公主", "Princess"),
    ("鉄道", "铁道", "Railway"),
    ("幽霊", "幽灵", "Ghost"),
    ("時間", "时间", "Time"),
    ("ゲーム", "游戏", "Game"),
    ("カフェ", "咖啡馆", "Cafe"),
]
NAMES = [
    ("アリス", "爱丽丝"),
    ("ユキ", "雪"),
    ("サクラ", "樱"),
    ("レン", "莲"),
    ("ハル", "春"),
    ("ミオ", "澪"),
    ("カイ", "凯"),
    ("リン", "凛"),
]


def make_rows(works: int, *, seed: int = 0) -> dict[str, list[dict[str, str]]]:
    """Rows by split: work i goes to validation when i % 10 == 0, test when i % 10 == 1, else train."""
    rng = random.Random(seed)
    combos = list(itertools.permutations(range(len(WORDS)), 2))
    rng.shuffle(combos)
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    for i, (a, b) in enumerate(combos[:works]):
        split = "validation" if i % 10 == 0 else "test" if i % 10 == 1 else "train"
        (ja_a, zh_a, en_a), (ja_b, zh_b, en_b) = WORDS[a], WORDS[b]
        ja, zh, en = f"{ja_a}の{ja_b}", f"{zh_a}的{zh_b}", f"{en_b} of {en_a}"
        entity = f"work/{i}"

        def row(
            anchor: str,
            positive: str,
            pair_type: str,
            a_lang: str,
            p_lang: str,
            source: str = "bangumi",
            entity: str = entity,
        ) -> dict:
            return dict(
                anchor=anchor,
                positive=positive,
                pair_type=pair_type,
                source=source,
                entity_id=entity,
                anchor_lang=a_lang,
                positive_lang=p_lang,
            )

        rows[split].append(row(ja, zh, "title_ja-title_zh", "ja", "zh"))
        rows[split].append(row(ja, en, "title_ja-title_en", "ja", "en", "myanimelist"))
        rows[split].append(row(zh, f"{zh}讲述了{zh_a}与{zh_b}的故事。", "title_zh-summary", "zh", "zh"))
        # A title paired with several characters: duplicate-free batches keep the title from being its own negative.
        for name_ja, name_zh in rng.sample(NAMES, 2):
            rows[split].append(row(ja, f"{name_ja}({ja_b})", "title_ja-character", "ja", "ja"))
            rows[split].append(row(zh, f"{name_zh}({zh_b})", "title_zh-character", "zh", "zh"))
    return rows


BAD_ROWS = [
    # (row overrides, the reason the trainer must count it under)
    ({"anchor": ""}, "missing-text"),
    ({"positive": None}, "missing-text"),
    ({"anchor": "同じ", "positive": "同じ"}, "self-pair"),
]


def write_tiny_corpus(
    datasets_root: Path, *, works: int = 40, seed: int = 0, bad_rows: bool = False
) -> dict[str, int]:
    """Write ``<datasets_root>/parquet/acg_text_pairs/<split>/part-00000.parquet`` (zstd); return rows per split."""
    rows = make_rows(works, seed=seed)
    if bad_rows:
        template = rows["train"][0]
        rows["train"] += [{**template, **override} for override, _ in BAD_ROWS]
    counts = {}
    for split, split_rows in rows.items():
        out = Path(parquet_dir(str(datasets_root), split))
        out.mkdir(parents=True, exist_ok=True)
        table = pa.table({c: pa.array([r[c] for r in split_rows], type=pa.string()) for c in COLUMNS})
        pq.write_table(table, out / "part-00000.parquet", compression="zstd")
        (out.parent / "build_metadata.json").write_text(
            "{}", encoding="utf-8"
        )  # marks the corpus complete, as a build does
        counts[split] = len(split_rows)
    return counts


def tiny_config(datasets_root: Path, output: Path, **overrides: object) -> TextTrainConfig:
    config = tiny_for_tests()
    config.data_dir = str(datasets_root)
    config.output = str(output)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config
