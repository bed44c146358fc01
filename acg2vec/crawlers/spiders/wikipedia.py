"""Wikipedia (zh, ja, en) through the MediaWiki Action API: one :class:`WikiSite` per language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from acg2vec.crawlers.spiders.mediawiki import MediaWikiArgs, MediaWikiSpider, WikiSite

# Infobox template -> Work.type. A name also matches its sub-templates ("infobox animanga/tvanime").
_WORK_INFOBOXES: dict[str, str | None] = {
    "infobox animanga": None,
    "infobox anime": "anime",
    "infobox manga": "manga",
    "infobox animanga/header": None,
    "infobox animanga/tvanime": "anime",
    "infobox animanga/video": "anime",
    "infobox animanga/ova": "anime",
    "infobox animanga/film": "movie",
    "infobox animanga/manga": "manga",
    "infobox animanga/game": "game",
    "infobox animanga/novel": "novel",
    "infobox television": "anime",
    "infobox film": "movie",
    "infobox video game": "game",
    "infobox vg": "game",
    "infobox light novel": "novel",
    "基礎情報 アニメ": "anime",
    "基礎情報 漫画": "manga",
    "基礎情報 ゲーム": "game",
    "動畫": "anime",
    "动画": "anime",
    "漫畫": "manga",
    "電子遊戲": "game",
}

_DISAMBIGUATION = frozenset(
    {"disambiguation", "disambig", "dab", "hndis", "geodis", "set index article", "消歧義", "消歧义", "disambig2",
     "aimai", "曖昧さ回避", "人名の曖昧さ回避", "地名の曖昧さ回避"}
)  # fmt: skip

_BOILERPLATE = {
    "en": {"references", "notes", "external links", "see also", "further reading", "footnotes", "bibliography",
           "citations", "sources"},
    "zh": {"参考文献", "參考文獻", "参考资料", "參考資料", "外部链接", "外部連結", "注释", "註釋", "脚注", "腳註",
           "参见", "參見", "相关条目", "相關條目", "注解", "來源", "来源"},
    "ja": {"脚注", "注釈", "出典", "参考文献", "外部リンク", "関連項目"},
}  # fmt: skip

_LOCAL_NAMESPACES = {
    "en": {"wp", "wt"},
    "zh": {"文件", "檔案", "分类", "分類", "模板", "模組", "维基百科", "維基百科", "帮助", "幫助", "主题", "主題",
           "用户", "用戶", "讨论", "討論", "草稿"},
    "ja": {"ファイル", "画像", "カテゴリ", "テンプレート", "ノート", "利用者", "プロジェクト", "ヘルプ", "ポータル"},
}  # fmt: skip

SITES: dict[str, WikiSite] = {
    lang: WikiSite(
        source="wikipedia",
        language=lang,
        api_path="/w/api.php",
        article_path="/wiki/",
        title_key={"zh": "zh-Hans", "ja": "ja", "en": "en"}[lang],
        work_infoboxes=_WORK_INFOBOXES,
        disambiguation_templates=_DISAMBIGUATION,
        boilerplate_headings=frozenset(_BOILERPLATE[lang]),
        local_namespaces=frozenset(_LOCAL_NAMESPACES[lang]),
        default_categories={
            "zh": ("日本电视动画",),
            "ja": ("日本のテレビアニメ",),
            "en": ("Anime television series",),
        }[lang],
        original_title_fields=("ja_kanji", "japanese", "原名", "原題"),
    )
    for lang in ("zh", "ja", "en")
}


@dataclass(frozen=True)
class WikipediaArgs(MediaWikiArgs):
    """``lang`` chooses the edition (zh, ja or en); its site is ``https://<lang>.wikipedia.org`` by default."""

    lang: str = "zh"

    def check(self) -> None:
        super().check()
        if self.lang not in SITES:
            raise ValueError(f"lang must be one of {', '.join(SITES)}, not {self.lang!r}")


class WikipediaSpider(MediaWikiSpider):
    """One language edition of Wikipedia; its arguments are :class:`WikipediaArgs`."""

    name = "wikipedia"
    Args: ClassVar[type[WikipediaArgs]] = WikipediaArgs
    args: WikipediaArgs
    # Wikimedia's API etiquette: requests in series, not in parallel.
    custom_settings = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    @property
    def site(self) -> WikiSite:  # type: ignore[override]
        return SITES[self.args.lang]

    def site_url(self) -> str:
        return f"https://{self.args.lang}.wikipedia.org"
