"""Writes acg2vec/datasets/acg_text_pairs/dummy_data/ (hand-made raw items of every source, two bad lines).

Run from the repository root: ``.venv/bin/python tests/datasets/acg_text_pairs/make_dummy_data.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from acg2vec.crawlers.items import Character, Item, Person, Section, TagTranslation, Work, item_to_dict

OUT = Path(__file__).resolve().parents[3] / "acg2vec" / "datasets" / "acg_text_pairs" / "dummy_data"

# (bangumi id, ja title, zh title, summary, tags, [(character ja, character zh, voice actor ja, voice actor zh)])
WORKS = [
    (1, "機動戦士ガンダム", "机动战士高达", "宇宙世纪0079年，吉翁公国向地球联邦发动独立战争。少年阿姆罗偶然驾驶了联邦的新型机动战士。", ["机战", "科幻", "战争"],
     [("アムロ・レイ", "阿姆罗·雷", "古谷徹", "古谷彻"), ("シャア・アズナブル", "夏亚·阿兹纳布尔", "池田秀一", "池田秀一")]),
    (2, "銀魂", "银魂", "在被外星人占领的江户，万事屋的坂田银时和伙伴们接下各种委托，过着吵吵闹闹的日子。", ["搞笑", "热血"],
     [("坂田銀時", "坂田银时", "杉田智和", "杉田智和")]),
    (3, "攻殻機動隊", "攻壳机动队", "近未来的日本，公安九课的草薙素子少佐率领部队对抗网络犯罪与恐怖活动。", ["赛博朋克", "科幻"],
     [("草薙素子", "草薙素子", "田中敦子", "田中敦子")]),
    (4, "涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "高中生阿虚遇到了自称只对外星人、未来人和超能力者感兴趣的凉宫春日。", ["校园", "科幻"],
     [("涼宮ハルヒ", "凉宫春日", "平野綾", "平野绫"), ("キョン", "阿虚", "杉田智和", "杉田智和")]),
    (5, "新世紀エヴァンゲリオン", "新世纪福音战士", "十四岁的碇真嗣被父亲召唤到第三新东京市，驾驶人型兵器EVA与使徒作战。", ["机战", "心理"],
     [("碇シンジ", "碇真嗣", "緒方恵美", "绪方惠美")]),
    (6, "けいおん!", "轻音少女", "樱丘高中轻音部的四名少女一起练习乐器、喝茶聊天，度过高中生活。", ["日常", "音乐"],
     [("平沢唯", "平泽唯", "豊崎愛生", "丰崎爱生")]),
    (7, "鋼の錬金術師", "钢之炼金术师", "为了找回失去的身体，爱德华和阿尔冯斯兄弟踏上寻找贤者之石的旅程。", ["奇幻", "冒险"],
     [("エドワード・エルリック", "爱德华·艾尔利克", "朴璐美", "朴璐美")]),
    (8, "魔法少女まどか☆マギカ", "魔法少女小圆", "普通的中学生鹿目圆遇到了能实现愿望的生物丘比，被邀请成为魔法少女。", ["魔法少女", "黑暗"],
     [("鹿目まどか", "鹿目圆", "悠木碧", "悠木碧")]),
    (9, "進撃の巨人", "进击的巨人", "人类躲在高墙之内躲避巨人，少年艾伦在墙被攻破后立誓要驱逐所有巨人。", ["热血", "黑暗"],
     [("エレン・イェーガー", "艾伦·耶格尔", "梶裕貴", "梶裕贵")]),
    (10, "四月は君の嘘", "四月是你的谎言", "失去母亲后无法听见琴声的钢琴少年有马公生，遇到了自由奔放的小提琴手宫园薰。", ["音乐", "恋爱"],
     [("有馬公生", "有马公生", "花江夏樹", "花江夏树")]),
    (15, "ゆるキャン△", "摇曳露营△", "喜欢独自露营的志摩凛和被富士山吸引而来的转学生各务原抚子，在山梨县开始了露营生活。", ["日常", "户外"],
     [("各務原なでしこ", "各务原抚子", "花守ゆみり", "花守由美里")]),
]  # fmt: skip

MAL = [
    (5114, 7, "鋼の錬金術師 FULLMETAL ALCHEMIST", "Fullmetal Alchemist: Brotherhood"),
    (16498, 9, "進撃の巨人", "Attack on Titan"),
    (918, 2, "銀魂", "Gintama"),
]

WIKI = {
    "ja": ("新世紀エヴァンゲリオン", "『新世紀エヴァンゲリオン』は、日本のテレビアニメである。庵野秀明が監督を務めた。",
           [("あらすじ", "西暦2015年、第3新東京市に謎の敵「使徒」が襲来する。少年シンジは父の命令でエヴァに乗る。")]),
    "zh": ("新世纪福音战士", "《新世纪福音战士》是日本的电视动画作品，由庵野秀明担任监督，于1995年播出。",
           [("剧情", "2015年，被称为使徒的神秘敌人袭击第三新东京市，少年碇真嗣奉父亲之命驾驶EVA。")]),
    "en": ("Neon Genesis Evangelion", "Neon Genesis Evangelion is a Japanese mecha anime television series directed by Hideaki Anno.",
           [("Plot", "In 2015, fifteen years after a global cataclysm, the city of Tokyo-3 is attacked by monsters called Angels.")]),
}  # fmt: skip


def items() -> dict[tuple[str, str], list[Item | str]]:
    out: dict[tuple[str, str], list[Item | str]] = {}

    def add(source: str, kind: str, item: Item | str) -> None:
        out.setdefault((source, kind), []).append(item)

    char_id = 100
    person_ids: dict[str, int] = {}
    for work_id, ja, zh, summary, tags, characters in WORKS:
        ids = []
        for cja, czh, vja, vzh in characters:
            char_id += 1
            ids.append(str(char_id))
            if vja not in person_ids:
                person_ids[vja] = 500 + len(person_ids)
                add(
                    "bangumi",
                    "person",
                    Person(
                        source="bangumi",
                        source_id=str(person_ids[vja]),
                        names={"ja": vja, "zh-Hans": vzh},
                        roles=["seiyu"],
                        ids={"bangumi": str(person_ids[vja])},
                    ),
                )
            add(
                "bangumi",
                "character",
                Character(
                    source="bangumi",
                    source_id=str(char_id),
                    names={"ja": cja, "zh-Hans": czh},
                    work_ids=[str(work_id)],
                    voice_actor_ids=[str(person_ids[vja])],
                    ids={"bangumi": str(char_id)},
                ),
            )
        add(
            "bangumi",
            "work",
            Work(
                source="bangumi",
                source_id=str(work_id),
                titles={"ja": ja, "zh-Hans": zh},
                summaries={"zh-Hans": summary},
                tags=tags,
                type="anime",
                ids={"bangumi": str(work_id)},
                character_ids=ids,
            ),
        )
    # The same subject crawled twice (an exact duplicate of every pair of work 1) and a character whose work is missing.
    add(
        "bangumi",
        "work",
        Work(
            source="bangumi",
            source_id="1",
            titles={"ja": "機動戦士ガンダム", "zh-Hans": "机动战士高达"},
            summaries={"zh-Hans": WORKS[0][3]},
            tags=WORKS[0][4],
            ids={"bangumi": "1"},
        ),
    )
    add(
        "bangumi",
        "character",
        Character(source="bangumi", source_id="999", names={"ja": "孤独なキャラ"}, work_ids=["404"]),
    )
    add("bangumi", "work", '{"kind": "work", "source": "bangumi", "source_id": "77", "titles": ["not", "a", "dict"]}')
    add("bangumi", "work", '{"kind": "work", "source": "bangumi", "source_id": "78", "titles": {"ja": "途中で')
    for mal_id, bangumi_id, ja, en in MAL:
        add(
            "animelist",
            "work",
            Work(
                source="animelist",
                source_id=str(mal_id),
                titles={"ja": ja, "en": en},
                ids={"mal": str(mal_id), "bangumi": str(bangumi_id)},
            ),
        )
    add(
        "animelist",
        "work",
        Work(
            source="animelist",
            source_id="1",
            titles={"ja": "カウボーイビバップ", "en": "Cowboy Bebop"},
            ids={"mal": "1"},
        ),
    )
    for lang, (title, intro, sections) in WIKI.items():
        links = {other: WIKI[other][0] for other in WIKI if other != lang}
        add(
            "wikipedia",
            "section",
            Section(
                source="wikipedia",
                source_id=f"{lang}:{title}#0",
                title=title,
                language=lang,
                text=intro,
                langlinks=links,
            ),
        )
        for i, (heading, text) in enumerate(sections, start=1):
            add(
                "wikipedia",
                "section",
                Section(
                    source="wikipedia",
                    source_id=f"{lang}:{title}#{i}",
                    title=title,
                    language=lang,
                    heading_path=[heading],
                    text=text,
                    langlinks=links,
                ),
            )
    add(
        "wikipedia",
        "section",
        Section(
            source="wikipedia",
            source_id="en:Talk:Evangelion#0",
            title="Talk:Evangelion",
            language="en",
            text="Is this article neutral? Please discuss here.",
        ),
    )
    add(
        "wikipedia",
        "section",
        Section(
            source="wikipedia",
            source_id="en:Mercury (disambiguation)#0",
            title="Mercury (disambiguation)",
            language="en",
            text="Mercury may refer to several different things.",
            categories=["Disambiguation pages"],
        ),
    )
    add(
        "moegirl",
        "section",
        Section(
            source="moegirl",
            source_id="zh:凉宫春日#0",
            title="凉宫春日",
            language="zh-Hans",
            text="凉宫春日是轻小说《凉宫春日系列》的女主角，SOS团团长，'''性格'''任性。{{黑幕|其实是神}}",
        ),
    )
    add(
        "moegirl",
        "section",
        Section(
            source="moegirl",
            source_id="zh:凉宫春日#1",
            title="凉宫春日",
            language="zh-Hans",
            heading_path=["人物经历"],
            text="入学第一天的自我介绍中宣称对普通人没有兴趣，之后创立了SOS团。",
        ),
    )
    for tag, zh in (
        ("東方Project", "东方Project"),
        ("艦これ", "舰队Collection"),
        ("初音ミク", "初音未来"),
        ("オリジナル", "原创"),
        ("創作", "创作"),
    ):
        add(
            "pixiv",
            "tag_translation",
            TagTranslation(source="pixiv", source_id=tag, tag=tag, translations={"zh": zh, "en": tag}),
        )
    add(
        "pixiv",
        "tag_translation",
        TagTranslation(source="pixiv", source_id="風景", tag="風景", translations={"zh": "風景"}),
    )
    return out


def main() -> None:
    for (source, kind), records in items().items():
        path = OUT / source / f"{kind}-00000.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(
                    (record if isinstance(record, str) else json.dumps(item_to_dict(record), ensure_ascii=False))
                    + "\n"
                )


if __name__ == "__main__":
    main()
