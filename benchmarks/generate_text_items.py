"""Write raw crawl items of realistic shape for the text-pair build: about ``--pairs`` pairs come out of them.

Each synthetic work is a Bangumi subject (ja / zh titles, a Chinese summary, tags) with ~6 characters and their
voice actors; every 2nd also has a MyAnimeList entry, every 4th a Wikipedia article in ja / zh / en (intro and
sections, some wiki markup left in), every 4th a moegirl page; pixiv tag translations come two per work. A few
percent of subjects are crawled twice (exact duplicates), some summaries are near-duplicates, and about 0.1% of
lines are broken (malformed JSON, wrong types) so the drop paths are exercised at scale.

    .venv/bin/python benchmarks/generate_text_items.py --out /tmp/acg-text-bench/raw --pairs 5000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

from acg2vec.crawlers.items import Character, Person, Section, TagTranslation, Work, item_to_dict

PAIRS_PER_WORK = 29  # measured on this generator's output (see the module doc's mix)
KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
DAKUTEN = "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポ"
KANJI = "機動戦士銀魂攻殻隊涼宮憂鬱新世紀魔法少女進撃巨人四月君嘘鋼錬金術師東京喰種物語学園異世界転生剣姫空海星夜"
HIRAGANA = "のはがをにへとでもやかなよねわ"
HANZI = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
WORDS = ("the", "a", "young", "girl", "boy", "world", "school", "magic", "war", "city", "story", "of", "and", "in",
         "mysterious", "power", "friends", "journey", "robot", "dream", "secret", "summer", "sky", "sword", "hero")  # fmt: skip
TAGS = ("搞笑", "热血", "日常", "科幻", "恋爱", "校园", "奇幻", "机战", "音乐", "治愈", "悬疑", "百合", "运动", "冒险",
        "战斗", "后宫", "青春", "推理", "偶像", "美食", "TV", "漫画改", "原创", "轻小说改", "游戏改", "2019", "2020")  # fmt: skip


class Writer:
    """Round-robin gzip shards per (source, kind), ``lines_per_shard`` lines each."""

    def __init__(self, root: Path, lines_per_shard: int) -> None:
        self.root = root
        self.lines_per_shard = lines_per_shard
        self.files: dict[tuple[str, str], tuple[gzip.GzipFile, int, int]] = {}
        self.lines = 0

    def write(self, source: str, kind: str, line: str) -> None:
        key = (source, kind)
        fh, shard, n = self.files.get(key, (None, -1, self.lines_per_shard))
        if n >= self.lines_per_shard:
            if fh is not None:
                fh.close()
            shard += 1
            path = self.root / source / f"{kind}-{shard:05d}.jsonl.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            # Shards stay open across calls (one per source and kind); close() closes them.
            fh, n = gzip.open(path, "wt", encoding="utf-8", compresslevel=1), 0  # noqa: SIM115
        fh.write(line + "\n")
        self.files[key] = (fh, shard, n + 1)
        self.lines += 1

    def item(self, source: str, item) -> None:
        self.write(source, item.kind, json.dumps(item_to_dict(item), ensure_ascii=False))

    def close(self) -> None:
        for fh, _, _ in self.files.values():
            fh.close()


def _kana_name(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(KATAKANA + DAKUTEN) for _ in range(n))


def _ja_title(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.3:
        return "".join(rng.choice(KANJI) for _ in range(rng.randint(2, 5)))  # kana-free Japanese title
    head = "".join(rng.choice(KANJI) for _ in range(rng.randint(1, 3)))
    return f"{head}{rng.choice(HIRAGANA)}{_kana_name(rng, rng.randint(2, 6))}"


def _hanzi(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HANZI) for _ in range(n))


def _zh_text(rng: random.Random, sentences: int) -> str:
    return "".join(_hanzi(rng, rng.randint(12, 40)) + rng.choice("。，！") for _ in range(sentences))


def _en_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def generate(out: Path, pairs: int, *, seed: int = 0, lines_per_shard: int = 100_000) -> dict[str, int]:
    rng = random.Random(seed)
    writer = Writer(out, lines_per_shard)
    works = max(1, pairs // PAIRS_PER_WORK)
    person_pool = max(10, works * 2)
    char_id = 0
    for w in range(1, works + 1):
        ja, zh = _ja_title(rng), _hanzi(rng, rng.randint(2, 7))
        summary = _zh_text(rng, rng.randint(2, 6))
        chars = []
        for _ in range(rng.randint(2, 10)):
            char_id += 1
            person = rng.randrange(person_pool)
            chars.append(str(char_id))
            writer.item("bangumi", Character(source="bangumi", source_id=str(char_id),
                                             names={"ja": _kana_name(rng, rng.randint(3, 8)), "zh-Hans": _hanzi(rng, rng.randint(2, 4))},
                                             work_ids=[str(w)], voice_actor_ids=[str(person)], ids={"bangumi": str(char_id)}))  # fmt: skip
            if rng.random() < 0.6:
                pj = "".join(rng.choice(KANJI) for _ in range(rng.randint(3, 4)))
                writer.item(
                    "bangumi",
                    Person(
                        source="bangumi",
                        source_id=str(person),
                        names={"ja": pj, "zh-Hans": _hanzi(rng, 3)},
                        roles=["seiyu"],
                    ),
                )
        work = Work(source="bangumi", source_id=str(w), titles={"ja": ja, "zh-Hans": zh}, summaries={"zh-Hans": summary},
                    tags=rng.sample(TAGS, rng.randint(2, 8)), type="anime", ids={"bangumi": str(w)}, character_ids=chars)  # fmt: skip
        writer.item("bangumi", work)
        if rng.random() < 0.03:
            writer.item("bangumi", work)  # crawled twice
        if rng.random() < 0.02:
            near = summary[:-3] + _hanzi(rng, 2) + "。"
            writer.item(
                "bangumi", Work(source="bangumi", source_id=f"{w}-r", titles={"ja": ja}, summaries={"zh-Hans": near})
            )
        if w % 2 == 0:
            en = _en_text(rng, rng.randint(2, 5))[:-1]
            writer.item(
                "animelist",
                Work(
                    source="animelist",
                    source_id=str(w * 7),
                    titles={"ja": ja, "en": en},
                    ids={"mal": str(w * 7), "bangumi": str(w)},
                ),
            )
        if w % 4 == 1:
            titles = {"ja": ja, "zh": zh, "en": _en_text(rng, 3)[:-1]}
            for lang, title in titles.items():
                links = {k: v for k, v in titles.items() if k != lang}
                intro = (
                    _en_text(rng, 40)
                    if lang == "en"
                    else (_zh_text(rng, 3) if lang == "zh" else ja + "は、" + _zh_text(rng, 3))
                )
                writer.item(
                    "wikipedia",
                    Section(
                        source="wikipedia",
                        source_id=f"{lang}:{title}#0",
                        title=title,
                        language=lang,
                        text=intro,
                        langlinks=links,
                    ),
                )
                for s in range(1, 5):
                    heading = (
                        rng.choice(("Plot", "Characters", "Production", "Reception"))
                        if lang == "en"
                        else _hanzi(rng, 2)
                    )
                    text = _en_text(rng, 60) if lang == "en" else _zh_text(rng, 4)
                    if rng.random() < 0.1:
                        text += "<ref>{{cite web|url=http://example.org}}</ref>[[File:x.png|thumb]]"
                    writer.item("wikipedia", Section(source="wikipedia", source_id=f"{lang}:{title}#{s}", title=title, language=lang,
                                                     heading_path=[heading], text=text, langlinks=links))  # fmt: skip
        if w % 4 == 3:
            for s in range(5):
                writer.item("moegirl", Section(source="moegirl", source_id=f"zh:{zh}#{s}", title=zh, language="zh-Hans",
                                               heading_path=[_hanzi(rng, 3)] if s else [], text=_zh_text(rng, 3)))  # fmt: skip
        for _ in range(2):
            tag = _kana_name(rng, rng.randint(2, 6)) + str(rng.randrange(1000))
            writer.item(
                "pixiv", TagTranslation(source="pixiv", source_id=tag, tag=tag, translations={"zh": _hanzi(rng, 3)})
            )
        if rng.random() < 0.002:
            writer.write(
                "bangumi", "work", '{"kind": "work", "source": "bangumi", "source_id": "x", "titles": [1, 2]}'
            )
            writer.write("bangumi", "work", '{"kind": "work", "source": "bang')
    writer.close()
    return {"works": works, "lines": writer.lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="raw/ folder to write (e.g. /tmp/acg-text-bench/raw)")
    parser.add_argument("--pairs", type=int, default=5_000_000, help="about how many pairs the items should yield")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.time()
    stats = generate(args.out, args.pairs, seed=args.seed)
    print(f"wrote {stats['lines']} lines ({stats['works']} works) to {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
