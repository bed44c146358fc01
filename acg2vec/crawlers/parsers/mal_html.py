"""MyAnimeList's own anime pages (HTML) into a Work, in either of MAL's two layouts.

Today's layout lists its information in ``table.table-list`` rows; the desktop layout in ``span.dark_text``
blocks. Each layout has its reader (:func:`_read_table_list`, :func:`_read_dark_text`) into one
:class:`MalPage`, which :func:`work_from_mal_html` turns into the Work the Jikan parser would write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Response

from acg2vec.crawlers.items import ItemError, Work
from acg2vec.crawlers.parsers.jikan import SOURCE

_ANIME_ID = re.compile(r"/anime/(\d+)")
_CHARACTER_ID = re.compile(r"/character/(\d+)")


# MAL's language labels in "Alternative Titles" -> Work.titles keys; "Synonyms" become aliases, and a label
# not listed here keeps its title as an alias rather than inventing a language key.
MAL_TITLE_LABELS = {
    "English": "en",
    "Japanese": "ja",
    "German": "de",
    "Spanish": "es",
    "French": "fr",
    "Italian": "it",
    "Portuguese": "pt",
    "Korean": "ko",
    "Chinese": "zh",
}
_TAG_LABELS = (
    "Genres",
    "Genre",
    "Explicit Genres",
    "Explicit Genre",
    "Themes",
    "Theme",
    "Demographics",
    "Demographic",
)
_SPACE_RUN = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE_RUN.sub(" ", text).strip()


@dataclass(slots=True)
class MalPage:
    """What one MyAnimeList anime page says, label by label, before it becomes a Work.

    ``alt_titles`` are the "Alternative Titles" lines in page order as (label, text); ``fields`` the
    Information rows as their own text; ``links`` the link texts of each row (genres, type).
    """

    layout: str
    alt_titles: list[tuple[str, str]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)


def _row_text(node: Any) -> str:
    return _squash(" ".join(node.xpath(".//text()").getall()))


def _read_table_list(response: Response) -> MalPage | None:
    """Today's layout: ``table.table-list`` rows of ``td.list-title`` + value cell; alternative titles as
    ``<span>Language</span><br>title<br>`` lines inside one cell."""
    rows = response.xpath("//table[contains(@class, 'table-list')]//tr[td[contains(@class, 'list-title')]]")
    if not rows:
        return None
    page = MalPage(layout="table-list")
    for row in rows:
        label = _squash(" ".join(row.xpath("./td[contains(@class, 'list-title')][1]//text()").getall()))
        cell = row.xpath("./td[contains(@class, 'list-title')][1]/following-sibling::td[1]")
        if not label or not cell:
            continue
        if label == "Alternative Titles":
            for span in cell.xpath(".//span[not(@itemprop)]"):
                name = _squash(" ".join(span.xpath(".//text()").getall()))
                text = next((_squash(t) for t in span.xpath("./following-sibling::text()").getall() if t.strip()), "")
                if name and text:
                    page.alt_titles.append((name, text))
            continue
        page.fields[label] = _row_text(cell)
        page.links[label] = [_squash(t) for t in cell.xpath(".//a//text()").getall() if t.strip()]
    return page


def _read_dark_text(response: Response) -> MalPage | None:
    """The desktop layout: ``div.spaceit_pad`` blocks, each ``<span class="dark_text">Label:</span> value``
    (the alternative titles in other languages sit in a hidden block of the same shape)."""
    blocks = response.xpath(
        "//div[contains(@class, 'spaceit_pad') or contains(@class, 'spaceit')][span[contains(@class, 'dark_text')]]"
    )
    if not blocks:
        return None
    page = MalPage(layout="dark-text")
    for block in blocks:
        label = _squash(" ".join(block.xpath("./span[contains(@class, 'dark_text')][1]//text()").getall())).rstrip(":")
        if not label:
            continue
        own = _squash(
            " ".join(
                block.xpath("./text() | ./span[not(contains(@class, 'dark_text'))][not(@itemprop)]//text()").getall()
            )
        )
        links = [_squash(t) for t in block.xpath(".//a//text()").getall() if t.strip()]
        if label == "Synonyms" or label in MAL_TITLE_LABELS:
            if own:
                page.alt_titles.append((label, own))
            continue
        page.fields.setdefault(label, own or " ".join(links))
        page.links.setdefault(label, links)
    return page


def split_synonyms(text: str, separator: str, *, other_titles: list[str]) -> list[str]:
    """MAL's synonym line split on its separator ("; " today, ", " on the desktop layout).

    A title that itself contains the separator ("Kono Naka ni Hitori, Imouto ga Iru! OVA", "…Camelot
    Wandering; Agateram") is put back together when the words either side of a separator stand together
    in another title on the page; a separator without the following space ("CHAOS;CHILD") never splits.
    """
    pieces = [p.strip() for p in text.split(separator)]
    pieces = [p for p in pieces if p]
    out: list[str] = []
    for piece in pieces:
        if out:
            tail = out[-1].split()[-1] if out[-1].split() else out[-1]
            head = piece.split()[0] if piece.split() else piece
            seam = f"{tail}{separator}{head}"
            if any(seam in title for title in other_titles):
                out[-1] = f"{out[-1]}{separator}{piece}"
                continue
        out.append(piece)
    return out


def _episodes(text: str | None) -> int | None:
    match = re.search(r"\d+", text or "")
    return int(match.group()) if match else None


def work_from_mal_html(response: Response) -> Work:
    """A Work from a MyAnimeList anime page (``/anime/{id}/...``), in either of MAL's two layouts.

    Raises :class:`ItemError` ``bad-anime-page`` (no id or no title: an error page) or ``layout-unknown``
    (a title but neither layout's information rows: never written half-empty).
    """
    match = _ANIME_ID.search(response.url)
    if not match:
        raise ItemError("bad-anime-page", "no anime id in the URL")
    mal_id = int(match.group(1))
    title = _squash(" ".join(response.css("h1.title-name ::text, h1 span[itemprop=name] ::text").getall()))
    if not title:
        raise ItemError("bad-anime-page", f"anime {mal_id}: no title on the page")
    page = _read_table_list(response) or _read_dark_text(response)
    if page is None:
        raise ItemError("layout-unknown", f"anime {mal_id}: neither table.table-list rows nor span.dark_text blocks")
    titles = {"ja-Latn": title}
    candidates: list[str] = []
    separator = "; " if page.layout == "table-list" else ", "
    others = [title] + [text for label, text in page.alt_titles if label != "Synonyms"]
    for label, text in page.alt_titles:
        if label == "Synonyms":
            candidates += split_synonyms(text, separator, other_titles=others)
            continue
        key = MAL_TITLE_LABELS.get(label)
        if key and key not in titles:
            titles[key] = text
        else:
            candidates.append(text)
    # The English title also shows under the main title (p.title-english) on both layouts.
    english = _squash(" ".join(response.css("p.title-english ::text").getall()))
    if english and "en" not in titles:
        titles["en"] = english
    seen = {t.casefold() for t in titles.values()}
    aliases = []
    for alias in candidates:
        if alias.casefold() not in seen:
            seen.add(alias.casefold())
            aliases.append(alias)
    tags: list[str] = []
    for label in _TAG_LABELS:
        tags += [t for t in page.links.get(label, []) if t not in tags]
    kind = _squash(" ".join(page.links.get("Type") or [page.fields.get("Type", "")])).lower()
    synopsis = "\n".join(t.strip() for t in response.css("p[itemprop=description] ::text").getall() if t.strip())
    character_ids = [
        int(m.group(1)) for href in response.css("a::attr(href)").getall() if (m := _CHARACTER_ID.search(href))
    ]
    return Work(
        source=SOURCE,
        source_id=str(mal_id),
        url=response.url,
        titles=titles,
        aliases=aliases,
        summaries={"en": synopsis} if synopsis else {},
        tags=tags,
        type=kind if kind and kind != "unknown" else None,
        episodes=_episodes(page.fields.get("Episodes")),
        air_date=_mal_date(page.fields.get("Aired", "")),
        ids={"mal": str(mal_id)},
        character_ids=[str(c) for c in dict.fromkeys(character_ids)],
    )


_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


def _mal_date(aired: str) -> str | None:
    """``Oct 23, 2005 to Jun 19, 2006`` -> ``2005-10-23`` (a bare year or month is kept as far as known)."""
    first = aired.split(" to ")[0].strip()
    match = re.match(r"^(?:([A-Z][a-z]{2})\s+)?(?:(\d{1,2}),\s+)?(\d{4})$", first)
    if not match:
        return None
    month, day, year = match.groups()
    if month and day:
        return f"{year}-{_MONTHS.get(month, 1):02d}-{int(day):02d}"
    if month:
        return f"{year}-{_MONTHS.get(month, 1):02d}"
    return year
