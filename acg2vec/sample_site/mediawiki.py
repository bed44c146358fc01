"""The MediaWiki Action API of the sample wikis: Wikipedia (``/wikipedia/{zh,ja,en}/w/api.php``) and moegirl
(``/moegirl/api.php``).

Supported, in both ``formatversion=1`` and ``2``: ``action=query`` with ``list=categorymembers`` (and
``generator=categorymembers``) and its ``continue`` protocol; ``titles`` / ``pageids``; ``prop=langlinks |
categories | pageprops | extracts | revisions | info``; ``meta=siteinfo``; ``action=parse`` with ``prop=wikitext |
sections | text | categories | langlinks | properties | displaytitle``. Errors come as MediaWiki sends them:
status 200 with an ``error`` object.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from typing import Any
from urllib.parse import unquote

import mwparserfromhell

from acg2vec.sample_site.messages import Request, Response, json_response, not_found, text_response
from acg2vec.sample_site.wikitext import WIKI_LANGUAGE, Page, Wiki, build_wiki
from acg2vec.sample_site.world import World

GENERATOR = "MediaWiki 1.43.0-wmf.12"
CATEGORY_LIMIT_MAX = 500
TITLES_MAX = 50
EXTRACTS_MAX = 20
TOUCHED = "2024-05-01T00:00:00Z"
LANGUAGE_NAMES = {"en": ("English", "English"), "ja": ("Japanese", "日本語"), "zh": ("Chinese", "中文")}


def plain_text(wikitext: str) -> str:
    """Wikitext without markup (references, templates and files dropped), paragraphs kept."""
    code = mwparserfromhell.parse(wikitext)
    for tag in code.filter_tags(matches=lambda t: str(t.tag).lower() == "ref"):
        with contextlib.suppress(ValueError):
            code.remove(tag)
    for link in code.filter_wikilinks():
        target = str(link.title).split(":", 1)[0].lower()
        if target in ("file", "ファイル", "image", "category", "文件"):
            with contextlib.suppress(ValueError):
                code.remove(link)
    text = code.strip_code(normalize=True, collapse=True)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_sections(wikitext: str) -> list[tuple[int, str, str]]:
    """(level, heading, wikitext body) for the lead (level 0, heading "") and each section."""
    out: list[tuple[int, str, str]] = []
    level, heading, start = 0, "", 0
    for match in re.finditer(r"^(={2,6})([^=].*?)\1\s*$", wikitext, re.M):
        out.append((level, heading, wikitext[start : match.start()]))
        level, heading, start = len(match.group(1)), match.group(2).strip(), match.end()
    out.append((level, heading, wikitext[start:]))
    return out


class MediaWikiSite:
    """Answers one wiki of the sample site."""

    def __init__(self, world: World, *, wiki: str) -> None:
        self.wiki_name = wiki
        self.wiki: Wiki = build_wiki(world, wiki)
        self.api_path = "/api.php" if wiki == "moegirl" else "/w/api.php"
        self.lang = WIKI_LANGUAGE[wiki]

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return text_response("User-agent: *\nDisallow: /private/\n")
        if request.path != self.api_path:
            page_match = re.match(r"^/(?:wiki/)?(.+)$", request.path)
            if page_match and request.path not in ("/", "/w/index.php"):
                return self._html_page(request, page_match.group(1))
            return not_found()
        action = request.arg("action", "help")
        fmt = request.arg("format", "jsonfm")
        if action == "query":
            body = self.query(request)
        elif action == "parse":
            body = self.parse(request)
        else:
            body = {"error": {"code": "badvalue", "info": f'Unrecognized value for parameter "action": {action}.'}}
        if fmt == "json":
            return json_response(body)
        # Without format=json the API answers an HTML page showing the JSON (jsonfm).
        pretty = html.escape(json.dumps(body, ensure_ascii=False, indent=4))
        return text_response(
            f"<!DOCTYPE html><html><body><pre>{pretty}</pre></body></html>", content_type="text/html; charset=utf-8"
        )

    # ------------------------------------------------------------------------------------------ helpers

    def _fv2(self, request: Request) -> bool:
        return request.arg("formatversion") in ("2", "latest")

    def _article_url(self, request: Request, title: str) -> str:
        path = "" if self.wiki_name == "moegirl" else "/wiki"
        return f"{request.base_url}{path}/{title.replace(' ', '_')}"

    def _normalize(self, title: str) -> str:
        title = title.replace("_", " ").strip()
        if self.wiki_name == "en" and title:
            head, sep, rest = title.partition(":")
            if sep and head in ("Category", "Talk", "File"):
                return f"{head}:{rest[:1].upper()}{rest[1:]}"
            title = title[:1].upper() + title[1:]
        return title

    # ------------------------------------------------------------------------------------------ action=query

    def query(self, request: Request) -> dict[str, Any]:
        fv2 = self._fv2(request)
        out: dict[str, Any] = {"batchcomplete": True if fv2 else ""}
        query: dict[str, Any] = {}
        continues: dict[str, str] = {}
        if request.arg("meta") == "siteinfo":
            query["general"] = self._siteinfo(request)
        if request.arg("list") == "categorymembers":
            members, token = self._categorymembers(request, "cm")
            if members is None:
                return self._missing_category_error()
            query["categorymembers"] = [{"pageid": p.pageid, "ns": p.ns, "title": p.title} for p in members]
            if token:
                continues["cmcontinue"] = token
        pages: list[Page | str] = []
        normalized: list[dict[str, Any]] = []
        if request.arg("generator") == "categorymembers":
            members, token = self._categorymembers(request, "gcm")
            if members is None:
                return self._missing_category_error()
            pages = list(members)
            if token:
                continues["gcmcontinue"] = token
        elif request.arg("titles"):
            titles = (request.arg("titles") or "").split("|")
            if len(titles) > TITLES_MAX:
                return {
                    "error": {
                        "code": "toomanyvalues",
                        "info": f'Too many values supplied for parameter "titles". The limit is {TITLES_MAX}.',
                    }
                }
            for raw in titles:
                title = self._normalize(raw)
                if title != raw:
                    normalized.append(
                        {"fromencoded": False, "from": raw, "to": title} if fv2 else {"from": raw, "to": title}
                    )
                pages.append(self.wiki.pages.get(title) or title)
        elif request.arg("pageids"):
            for raw in (request.arg("pageids") or "").split("|"):
                page = self.wiki.by_id.get(int(raw)) if raw.isdigit() else None
                pages.append(page or f"#{raw}")
        if pages or request.arg("titles") or request.arg("pageids") or request.arg("generator"):
            props = set((request.arg("prop") or "").split("|")) - {""}
            rendered, prop_continue = self._pages(request, pages, props)
            continues.update(prop_continue)
            if normalized:
                query["normalized"] = normalized
            if fv2:
                query["pages"] = rendered
            else:
                query["pages"] = {str(p.get("pageid", -1 - i)): p for i, p in enumerate(rendered)}
        if continues:
            continues["continue"] = "gcmcontinue||" if "gcmcontinue" in continues else "-||"
            out["continue"] = continues
            if "excontinue" in continues:
                out.pop("batchcomplete", None)
        if query:
            out["query"] = query
        return out

    def _missing_category_error(self) -> dict[str, Any]:
        return {"error": {"code": "invalidcategory", "info": "The category name you entered is not valid."}}

    def _categorymembers(self, request: Request, prefix: str) -> tuple[list[Page] | None, str | None]:
        """One page of category members and the continue token, or (None, None) without a category title."""
        title = request.arg(f"{prefix}title")
        if not title:
            return None, None
        members = self.wiki.members.get(self._normalize(title), [])
        namespaces = request.arg(f"{prefix}namespace")
        if namespaces:
            wanted = {int(n) for n in namespaces.split("|") if n.lstrip("-").isdigit()}
            members = [p for p in members if p.ns in wanted]
        types = request.arg(f"{prefix}type")
        if types:
            kinds = set(types.split("|"))
            members = [p for p in members if ("subcat" if p.ns == 14 else "file" if p.ns == 6 else "page") in kinds]
        limit_arg = request.arg(f"{prefix}limit", "10")
        limit = CATEGORY_LIMIT_MAX if limit_arg == "max" else max(1, min(int(limit_arg or 10), CATEGORY_LIMIT_MAX))
        start = 0
        token = request.arg(f"{prefix}continue")
        if token:
            _, sortkey_hex, pageid = (token.split("|") + ["", ""])[:3]
            key = (bytes.fromhex(sortkey_hex).decode("utf-8", "replace"), int(pageid or 0))
            start = next((i for i, p in enumerate(members) if (p.title, p.pageid) >= key), len(members))
        page = members[start : start + limit]
        next_token = None
        if start + limit < len(members):
            following = members[start + limit]
            next_token = f"page|{following.title.encode('utf-8').hex().upper()}|{following.pageid}"
        return page, next_token

    def _pages(
        self, request: Request, pages: list[Page | str], props: set[str]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        fv2 = self._fv2(request)
        rendered: list[dict[str, Any]] = []
        continues: dict[str, str] = {}
        extract_offset = request.int_arg("excontinue", 0)
        extract_limit = min(request.int_arg("exlimit", EXTRACTS_MAX), EXTRACTS_MAX)
        extracted = 0
        for index, page in enumerate(pages):
            if isinstance(page, str):
                if page.startswith("#"):
                    rendered.append(
                        {"pageid": int(page[1:]) if page[1:].isdigit() else 0, "missing": True if fv2 else ""}
                    )
                else:
                    rendered.append({"ns": 0, "title": page, "missing": True if fv2 else ""})
                continue
            row: dict[str, Any] = {"pageid": page.pageid, "ns": page.ns, "title": page.title}
            if "langlinks" in props and page.langlinks:
                wanted_lang = request.arg("lllang")
                links = []
                for lang, title in sorted(page.langlinks.items()):
                    if wanted_lang and lang != wanted_lang:
                        continue
                    link: dict[str, Any] = {"lang": lang}
                    if "url" in (request.arg("llprop") or ""):
                        link["url"] = f"{request.base_url.rsplit('/', 1)[0]}/{lang}/wiki/{title.replace(' ', '_')}"
                    link["title" if fv2 else "*"] = title
                    links.append(link)
                if links:
                    row["langlinks"] = links
            if "categories" in props:
                row["categories"] = [{"ns": 14, "title": c} for c in page.categories]
            if "pageprops" in props and page.pageprops:
                wanted = set((request.arg("ppprop") or "").split("|")) - {""}
                pageprops = {k: v for k, v in page.pageprops.items() if not wanted or k in wanted}
                if pageprops:
                    row["pageprops"] = pageprops
            if "extracts" in props and index >= extract_offset:
                if extracted < extract_limit:
                    row["extract"] = self._extract(page, request)
                    extracted += 1
                elif "excontinue" not in continues:
                    continues["excontinue"] = str(index)
            if "revisions" in props:
                row["revisions"] = [self._revision(page, request)]
            if "info" in props:
                row.update(
                    {
                        "contentmodel": "wikitext",
                        "pagelanguage": self.lang,
                        "pagelanguagehtmlcode": self.lang,
                        "pagelanguagedir": "ltr",
                        "touched": TOUCHED,
                        "lastrevid": page.pageid * 10,
                        "length": len(page.wikitext.encode("utf-8")),
                    }
                )
                if "url" in (request.arg("inprop") or ""):
                    row["fullurl"] = row["canonicalurl"] = self._article_url(request, page.title)
            rendered.append(row)
        return rendered, continues

    def _extract(self, page: Page, request: Request) -> str:
        """TextExtracts: plain text with ``explaintext``, else simple HTML; only the lead with ``exintro``."""
        sections = split_sections(page.wikitext)
        if request.arg("exintro") is not None:
            sections = sections[:1]
        plain = request.arg("explaintext") is not None
        section_format = request.arg("exsectionformat", "wiki")
        parts: list[str] = []
        for level, heading, body in sections:
            text = plain_text(body)
            if plain:
                if heading:
                    marks = "=" * level
                    parts.append(f"{marks} {heading} {marks}" if section_format == "wiki" else heading)
                if text:
                    parts.append(text)
            else:
                if heading:
                    parts.append(f"<h{level}>{html.escape(heading)}</h{level}>")
                parts.extend(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        return "\n".join(parts)

    def _revision(self, page: Page, request: Request) -> dict[str, Any]:
        fv2 = self._fv2(request)
        content_key = "content" if fv2 else "*"
        revision: dict[str, Any] = {"revid": page.pageid * 10, "parentid": page.pageid * 10 - 1, "timestamp": TOUCHED}
        body = {"contentformat": "text/x-wiki", "contentmodel": "wikitext", content_key: page.wikitext}
        if request.arg("rvslots"):
            revision["slots"] = {"main": body}
        else:
            revision.update(body)
        return revision

    def _siteinfo(self, request: Request) -> dict[str, Any]:
        server = request.base_url
        main_page = {"en": "Main Page", "ja": "メインページ", "zh": "Wikipedia:首页", "moegirl": "Mainpage"}[
            self.wiki_name
        ]
        return {
            "mainpage": main_page,
            "base": self._article_url(request, main_page),
            "sitename": "萌娘百科" if self.wiki_name == "moegirl" else "Wikipedia",
            "generator": GENERATOR,
            "case": "first-letter",
            "lang": self.lang,
            "fallback": [],
            "rtl": False,
            "readonly": False,
            "writeapi": True,
            "maxarticlesize": 2097152,
            "timezone": "UTC",
            "timeoffset": 0,
            "articlepath": "/$1" if self.wiki_name == "moegirl" else "/wiki/$1",
            "scriptpath": "" if self.wiki_name == "moegirl" else "/w",
            "script": "/index.php" if self.wiki_name == "moegirl" else "/w/index.php",
            "server": server,
            "servername": server.split("//", 1)[-1].split("/", 1)[0],
            "wikiid": "moegirl" if self.wiki_name == "moegirl" else f"{self.lang}wiki",
            "time": TOUCHED,
        }

    # ------------------------------------------------------------------------------------------ action=parse

    def parse(self, request: Request) -> dict[str, Any]:
        fv2 = self._fv2(request)
        page: Page | None = None
        if request.arg("pageid"):
            page = self.wiki.by_id.get(request.int_arg("pageid", -1))
        elif request.arg("page"):
            page = self.wiki.pages.get(self._normalize(request.arg("page") or ""))
        else:
            return {"error": {"code": "missingparam", "info": 'The "page" or "pageid" parameter must be set.'}}
        if page is None:
            return {"error": {"code": "missingtitle", "info": "The page you specified doesn't exist."}}
        props = set((request.arg("prop") or "text|categories|langlinks|sections|displaytitle|properties").split("|"))
        out: dict[str, Any] = {"title": page.title, "pageid": page.pageid}
        if "revid" in props:
            out["revid"] = page.pageid * 10
        if "text" in props:
            rendered = self._html(page)
            out["text"] = rendered if fv2 else {"*": rendered}
        if "langlinks" in props:
            out["langlinks"] = [
                {
                    "lang": lang,
                    "url": f"{request.base_url.rsplit('/', 1)[0]}/{lang}/wiki/{title.replace(' ', '_')}",
                    "langname": LANGUAGE_NAMES[lang][0],
                    "autonym": LANGUAGE_NAMES[lang][1],
                    ("title" if fv2 else "*"): title,
                }
                for lang, title in sorted(page.langlinks.items())
            ]
        if "categories" in props:
            out["categories"] = [
                {"sortkey": "", ("category" if fv2 else "*"): c.split(":", 1)[1].replace(" ", "_")}
                for c in page.categories
            ]
        if "sections" in props:
            out["sections"] = self._sections(page)
        if "displaytitle" in props:
            out["displaytitle"] = page.title
        if "wikitext" in props:
            out["wikitext"] = page.wikitext if fv2 else {"*": page.wikitext}
        if "properties" in props:
            out["properties"] = (
                dict(page.pageprops) if fv2 else [{"name": k, "*": v} for k, v in page.pageprops.items()]
            )
        return {"parse": out}

    def _sections(self, page: Page) -> list[dict[str, Any]]:
        sections = []
        stack: list[list[int]] = []  # [level, number] per open heading level
        for index, match in enumerate(re.finditer(r"^(={2,6})([^=].*?)\1\s*$", page.wikitext, re.M), start=1):
            level = len(match.group(1))
            while stack and stack[-1][0] > level:
                stack.pop()
            if stack and stack[-1][0] == level:
                stack[-1][1] += 1
            else:
                stack.append([level, 1])
            line = match.group(2).strip()
            anchor = line.replace(" ", "_")
            sections.append(
                {
                    "toclevel": len(stack),
                    "level": str(level),
                    "line": line,
                    "number": ".".join(str(number) for _, number in stack),
                    "index": str(index),
                    "fromtitle": page.title.replace(" ", "_"),
                    "byteoffset": len(page.wikitext[: match.start()].encode("utf-8")),
                    "anchor": anchor,
                    "linkanchor": anchor,
                }
            )
        return sections

    def _html(self, page: Page) -> str:
        parts = ['<div class="mw-parser-output">']
        for level, heading, body in split_sections(page.wikitext):
            if heading:
                anchor = html.escape(heading.replace(" ", "_"))
                parts.append(
                    f'<h{level}><span class="mw-headline" id="{anchor}">{html.escape(heading)}</span></h{level}>'
                )
            parts.extend(f"<p>{html.escape(p)}</p>" for p in plain_text(body).split("\n\n") if p.strip())
        parts.append("</div>")
        return "\n".join(parts)

    def _html_page(self, request: Request, title: str) -> Response:
        page = self.wiki.pages.get(self._normalize(unquote(title)))
        if page is None:
            return not_found()
        doc = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(page.title)}</title></head><body>{self._html(page)}</body></html>"
        return text_response(doc, content_type="text/html; charset=utf-8")
