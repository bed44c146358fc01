"""moegirl (萌娘百科, zh) through the MediaWiki Action API: its :class:`WikiSite` data."""

from __future__ import annotations

from acg2vec.crawlers.spiders.mediawiki import MediaWikiSpider, WikiSite

MOEGIRL = WikiSite(
    source="moegirl",
    language="zh",
    api_path="/api.php",
    article_path="/",
    title_key="zh-Hans",
    work_infoboxes={
        "作品信息": None,
        "动画作品信息": "anime",
        "动画信息": "anime",
        "番剧信息": "anime",
        "漫画信息": "manga",
        "游戏信息": "game",
        "小说信息": "novel",
        "infobox animanga": None,
    },
    character_infoboxes=frozenset({"人物信息", "角色信息"}),
    disambiguation_templates=frozenset({"disambig", "消歧义", "消歧义页", "消歧義"}),
    boilerplate_headings=frozenset(
        {"注释", "注释与外部链接", "外部链接", "参考资料", "相关条目", "注释与参考资料", "脚注"}
    ),
    local_namespaces=frozenset({"文件", "分类", "模板", "萌娘百科", "帮助", "用户", "讨论", "h萌娘", "模块", "user"}),
    default_categories=("日本动画",),
    original_title_fields=("本名", "原名", "日文名"),
    alias_fields=("别号", "别名", "译名"),
    voice_actor_fields=("声优", "多位声优"),
)


class MoegirlSpider(MediaWikiSpider):
    """moegirl pages: sections, works from their infobox, characters from 人物信息."""

    name = "moegirl"
    site = MOEGIRL
    default_base_url = "https://zh.moegirl.org.cn"
