"""Invented vocabulary the sample world is built from: name parts, title parts, places, genres.

Every entry gives the same thing in each language the sites use, so a work or a character generated from
these parts has a Japanese, Chinese (simplified and traditional), English and romaji form that agree.
"""

from __future__ import annotations

# (kanji, kana, romaji, zh-Hans, zh-Hant)
SURNAMES: tuple[tuple[str, str, str, str, str], ...] = (
    ("星野", "ほしの", "hoshino", "星野", "星野"),
    ("桜井", "さくらい", "sakurai", "樱井", "櫻井"),
    ("藤原", "ふじわら", "fujiwara", "藤原", "藤原"),
    ("高橋", "たかはし", "takahashi", "高桥", "高橋"),
    ("白石", "しらいし", "shiraishi", "白石", "白石"),
    ("月島", "つきしま", "tsukishima", "月岛", "月島"),
    ("水瀬", "みなせ", "minase", "水濑", "水瀨"),
    ("神崎", "かんざき", "kanzaki", "神崎", "神崎"),
    ("黒川", "くろかわ", "kurokawa", "黑川", "黑川"),
    ("朝倉", "あさくら", "asakura", "朝仓", "朝倉"),
    ("早乙女", "さおとめ", "saotome", "早乙女", "早乙女"),
    ("雨宮", "あまみや", "amamiya", "雨宫", "雨宮"),
    ("橘", "たちばな", "tachibana", "橘", "橘"),
    ("氷室", "ひむろ", "himuro", "冰室", "冰室"),
    ("鳴海", "なるみ", "narumi", "鸣海", "鳴海"),
    ("東雲", "しののめ", "shinonome", "东云", "東雲"),
    ("葛城", "かつらぎ", "katsuragi", "葛城", "葛城"),
    ("綾瀬", "あやせ", "ayase", "绫濑", "綾瀨"),
    ("真田", "さなだ", "sanada", "真田", "真田"),
    ("久遠", "くおん", "kuon", "久远", "久遠"),
    ("日向", "ひなた", "hinata", "日向", "日向"),
    ("宮沢", "みやざわ", "miyazawa", "宫泽", "宮澤"),
    ("小野寺", "おのでら", "onodera", "小野寺", "小野寺"),
    ("西園寺", "さいおんじ", "saionji", "西园寺", "西園寺"),
)

# (kanji, kana, romaji, zh-Hans, zh-Hant, gender)
GIVEN_NAMES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("明里", "あかり", "akari", "明里", "明里", "female"),
    ("陽菜", "ひな", "hina", "阳菜", "陽菜", "female"),
    ("葵", "あおい", "aoi", "葵", "葵", "female"),
    ("凛", "りん", "rin", "凛", "凜", "female"),
    ("美咲", "みさき", "misaki", "美咲", "美咲", "female"),
    ("千尋", "ちひろ", "chihiro", "千寻", "千尋", "female"),
    ("結衣", "ゆい", "yui", "结衣", "結衣", "female"),
    ("雪菜", "ゆきな", "yukina", "雪菜", "雪菜", "female"),
    ("琴音", "ことね", "kotone", "琴音", "琴音", "female"),
    ("紗希", "さき", "saki", "纱希", "紗希", "female"),
    ("彩花", "あやか", "ayaka", "彩花", "彩花", "female"),
    ("真白", "ましろ", "mashiro", "真白", "真白", "female"),
    ("翔太", "しょうた", "shouta", "翔太", "翔太", "male"),
    ("蓮", "れん", "ren", "莲", "蓮", "male"),
    ("悠真", "ゆうま", "yuuma", "悠真", "悠真", "male"),
    ("颯", "はやて", "hayate", "飒", "颯", "male"),
    ("拓海", "たくみ", "takumi", "拓海", "拓海", "male"),
    ("隼人", "はやと", "hayato", "隼人", "隼人", "male"),
    ("湊", "みなと", "minato", "湊", "湊", "male"),
    ("誠", "まこと", "makoto", "诚", "誠", "male"),
    ("光", "ひかる", "hikaru", "光", "光", "male"),
    ("健二", "けんじ", "kenji", "健二", "健二", "male"),
)

# Katakana names of foreign-sounding characters: (katakana, romaji, zh-Hans, zh-Hant, en, gender)
FOREIGN_NAMES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("アリス", "arisu", "爱丽丝", "愛麗絲", "Alice", "female"),
    ("リリィ", "ririi", "莉莉", "莉莉", "Lily", "female"),
    ("エレナ", "erena", "艾琳娜", "艾琳娜", "Elena", "female"),
    ("ソフィア", "sofia", "索菲亚", "索菲亞", "Sophia", "female"),
    ("ヴィクトリア", "vikutoria", "维多利亚", "維多利亞", "Victoria", "female"),
    ("クロエ", "kuroe", "克洛伊", "克洛伊", "Chloe", "female"),
    ("ルーク", "ruuku", "卢克", "盧克", "Luke", "male"),
    ("ジーク", "jiiku", "齐格", "齊格", "Sieg", "male"),
    ("ガブリエル", "gaburieru", "加百列", "加百列", "Gabriel", "male"),
    ("ノア", "noa", "诺亚", "諾亞", "Noah", "male"),
)

# Title parts: (ja, kana reading, romaji, zh-Hans, zh-Hant, en). Kana-free parts make kana-free titles.
TITLE_PARTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("星", "ほし", "hoshi", "星", "星", "Star"),
    ("空", "そら", "sora", "天空", "天空", "Sky"),
    ("魔法", "まほう", "mahou", "魔法", "魔法", "Magic"),
    ("少女", "しょうじょ", "shoujo", "少女", "少女", "Girl"),
    ("戦記", "せんき", "senki", "战记", "戰記", "Chronicle"),
    ("学園", "がくえん", "gakuen", "学园", "學園", "Academy"),
    ("騎士", "きし", "kishi", "骑士", "騎士", "Knight"),
    ("竜", "りゅう", "ryuu", "龙", "龍", "Dragon"),
    ("海", "うみ", "umi", "大海", "大海", "Sea"),
    ("夜明け", "よあけ", "yoake", "黎明", "黎明", "Dawn"),
    ("約束", "やくそく", "yakusoku", "约定", "約定", "Promise"),
    ("図書館", "としょかん", "toshokan", "图书馆", "圖書館", "Library"),
    ("鉄道", "てつどう", "tetsudou", "铁道", "鐵道", "Railway"),
    ("機械", "きかい", "kikai", "机械", "機械", "Machine"),
    ("猫", "ねこ", "neko", "猫", "貓", "Cat"),
    ("桜", "さくら", "sakura", "樱花", "櫻花", "Cherry Blossom"),
    ("雪", "ゆき", "yuki", "雪", "雪", "Snow"),
    ("風", "かぜ", "kaze", "风", "風", "Wind"),
    ("歌", "うた", "uta", "歌", "歌", "Song"),
    ("旅", "たび", "tabi", "旅途", "旅途", "Journey"),
    ("記憶", "きおく", "kioku", "记忆", "記憶", "Memory"),
    ("王国", "おうこく", "oukoku", "王国", "王國", "Kingdom"),
    ("探偵", "たんてい", "tantei", "侦探", "偵探", "Detective"),
    ("天使", "てんし", "tenshi", "天使", "天使", "Angel"),
    ("放課後", "ほうかご", "houkago", "放学后", "放學後", "After School"),
    ("銀河", "ぎんが", "ginga", "银河", "銀河", "Galaxy"),
    ("影", "かげ", "kage", "影子", "影子", "Shadow"),
    ("剣", "けん", "ken", "剑", "劍", "Sword"),
    ("物語", "ものがたり", "monogatari", "物语", "物語", "Tale"),
    ("花火", "はなび", "hanabi", "烟花", "煙花", "Fireworks"),
)

# Fixed katakana / symbol titles that exercise Unicode normalisation (dakuten, half-width kana, full-width Latin).
# (ja, romaji, zh-Hans, zh-Hant, en, aliases)
SPECIAL_TITLES: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    (
        "機動戦騎ガンドラム",
        "Kidou Senki Gandoramu",
        "机动战骑钢德拉姆",
        "機動戰騎鋼德拉姆",
        "Mobile Battle Knight Gandrum",
        ("ｶﾞﾝﾄﾞﾗﾑ", "ガンドラム"),
    ),
    (
        "ＳＴＡＲ☆ＬＩＧＨＴ ２",
        "STAR☆LIGHT 2",
        "星光闪耀２",
        "星光閃耀２",
        "STAR☆LIGHT 2",
        ("STAR☆LIGHT 2", "スタライ２"),
    ),
    ("ブレイブ・ハーツ", "Bureibu Haatsu", "勇者之心", "勇者之心", "Brave Hearts", ("ﾌﾞﾚｲﾌﾞ･ﾊｰﾂ",)),
    ("ドリーム☆ステージ！", "Doriimu☆Suteeji!", "梦想☆舞台！", "夢想☆舞台！", "Dream☆Stage!", ("ドリステ",)),
    ("ヴァルキュリア・ゼロ", "Varukyuria Zero", "女武神·零", "女武神·零", "Valkyria Zero", ("ヴァルゼロ",)),
    ("ぷりずむ☆ぱれっと", "Purizumu☆Paretto", "棱镜☆调色盘", "稜鏡☆調色盤", "Prism☆Palette", ("ぷりぱれ",)),
)

# (ja, zh-Hans, en)
PLACES: tuple[tuple[str, str, str], ...] = (
    ("海辺の町", "海边小镇", "a seaside town"),
    ("山奥の学園", "深山中的学园", "a mountain academy"),
    ("浮遊都市", "浮游都市", "a floating city"),
    ("王都", "王都", "the royal capital"),
    ("辺境の村", "边境的村庄", "a frontier village"),
    ("宇宙ステーション", "太空站", "a space station"),
    ("雪深い港町", "积雪的港口小镇", "a snowbound harbour town"),
)

THINGS: tuple[tuple[str, str, str], ...] = (
    ("古い地図", "一张古老的地图", "an old map"),
    ("壊れたロボット", "一台坏掉的机器人", "a broken robot"),
    ("不思議な歌声", "不可思议的歌声", "a mysterious singing voice"),
    ("光る石", "一块发光的石头", "a glowing stone"),
    ("一冊の日記", "一本日记", "a diary"),
    ("黒い猫", "一只黑猫", "a black cat"),
    ("封印された剣", "一把被封印的剑", "a sealed sword"),
)

GOALS: tuple[tuple[str, str, str], ...] = (
    ("世界の謎を解く", "解开世界之谜", "solve the mystery of the world"),
    ("失われた約束を取り戻す", "找回失去的约定", "recover a lost promise"),
    ("大会で優勝する", "在大赛中夺冠", "win the championship"),
    ("故郷を守る", "守护故乡", "protect their hometown"),
    ("星の海を渡る", "横渡星之海", "cross the sea of stars"),
)

# (ja, zh-Hans, en, Bangumi-style tag)
GENRES: tuple[tuple[str, str, str, str], ...] = (
    ("ファンタジー", "奇幻", "fantasy", "奇幻"),
    ("SF", "科幻", "science fiction", "科幻"),
    ("学園", "校园", "school", "校园"),
    ("日常", "日常", "slice-of-life", "日常"),
    ("ロボット", "机战", "mecha", "机战"),
    ("音楽", "音乐", "music", "音乐"),
    ("ミステリー", "悬疑", "mystery", "悬疑"),
    ("恋愛", "恋爱", "romance", "恋爱"),
    ("冒険", "冒险", "adventure", "冒险"),
)

# (ja, en)
STUDIOS: tuple[tuple[str, str], ...] = (
    ("スタジオ・ソラ", "Studio Sora"),
    ("月光アニメーション", "Gekkou Animation"),
    ("アトリエ彩", "Atelier Irodori"),
    ("北極星プロダクション", "Polaris Production"),
    ("ガラス工房", "Glass Workshop"),
)

# (Bangumi tag, en source name)
ORIGINS: tuple[tuple[str, str], ...] = (
    ("原创", "Original"),
    ("漫画改", "Manga"),
    ("轻小说改", "Light novel"),
    ("游戏改", "Game"),
)

# Character traits: (ja, zh-Hans, en)
TRAITS: tuple[tuple[str, str, str], ...] = (
    (
        "明るく前向きな性格で、誰とでもすぐに打ち解ける。",
        "性格开朗积极，和谁都能很快打成一片。",
        "Cheerful and upbeat, quick to make friends with anyone.",
    ),
    (
        "無口だが、仲間思いの優しい一面を持つ。",
        "沉默寡言，却有着重视同伴的温柔一面。",
        "Quiet, but deeply caring towards friends.",
    ),
    (
        "成績優秀な生徒会長。実は極度の方向音痴。",
        "成绩优秀的学生会长，其实是个严重的路痴。",
        "A top student and council president who gets lost everywhere.",
    ),
    (
        "古い機械の修理が得意で、いつも工具を持ち歩いている。",
        "擅长修理旧机器，总是随身带着工具。",
        "Good at repairing old machines and always carries tools.",
    ),
    (
        "歌うことが大好きで、毎朝屋上で発声練習をしている。",
        "非常喜欢唱歌，每天早上都在屋顶练声。",
        "Loves singing and practises on the rooftop every morning.",
    ),
    (
        "剣の名手。甘いものに目がない。",
        "剑术高手，对甜食毫无抵抗力。",
        "A master swordsman with a weakness for sweets.",
    ),
    (
        "謎めいた転校生。その正体は誰も知らない。",
        "神秘的转学生，没有人知道其真实身份。",
        "A mysterious transfer student whose true identity no one knows.",
    ),
)
