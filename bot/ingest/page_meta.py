"""What an article page declares about itself: headline, authors, section, standfirst, body.

Publishers state these in `<meta>` tags (Open Graph, Twitter, ``name=author``), in the visible
``<h1>``, and in JSON-LD (``NewsArticle`` and its kin, also inside ``@graph``). The extractor
compares the text it finds with them: a first line that is the headline or the byline is not
the story, and a well-formed ``articleBody`` is the story itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.text import clean_title, html_to_text

_ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "backgroundnewsarticle", "reviewnewsarticle", "blogposting",
    "liveblogposting", "socialmediaposting", "techarticle", "scholarlyarticle", "report",
    "webpage",  # ranked last: some sites put the article's fields on the WebPage node
})
_CAPTION_CLASS = re.compile(r"caption|credit|legend|(?<![a-z])cap(?![a-z])|pic-?con|photo-?text",
                            re.IGNORECASE)
# WordPress shortcodes left in articleBody; a [caption] block holds a photo caption, not story.
_SHORTCODE = re.compile(
    r"\[caption\b[^\]]*\].*?\[/caption\]"
    r"|\[/?(?:embed|gallery|video|audio|playlist|tweet|youtube|instagram|related|ad|adsense"
    r"|vc_[\w-]+|et_pb_[\w-]+|su_[\w-]+)\b[^\]]*\]",
    re.IGNORECASE | re.DOTALL)
_MAX_JSONLD = 2_000_000  # characters of one JSON-LD script read; larger ones are skipped


@dataclass(frozen=True)
class DeclaredMeta:
    """The page's own statements about the article (all plain text, possibly empty)."""

    titles: tuple[str, ...]  # best first: JSON-LD headline, og:title, <h1>, <title>
    authors: tuple[str, ...]
    sections: tuple[str, ...]
    site_name: str
    description: str  # the standfirst: JSON-LD / og / meta description
    article_body: str  # JSON-LD articleBody, paragraphs separated by "\n\n"
    captions: tuple[str, ...]  # <figcaption>, caption/credit elements, image alt texts
    image: str  # og:image, twitter:image or JSON-LD image (not yet resolved)
    image_alt: str
    language: str
    meta: dict[str, str]
    live: bool = False  # a LiveBlogPosting: its description is its opening, not a standfirst

    @property
    def title(self) -> str:
        return self.titles[0] if self.titles else ""


def read_declared(tree: Any) -> DeclaredMeta:
    """Read the page's declared metadata from a parsed (lxml) tree. Never raises."""
    meta = _meta_tags(tree)
    shown = {_fold(meta.get("og:title", "")), _fold(_first_text(tree, "//h1"))} - {""}
    # The page's own article first: a body, a headline matching the page's title (a list of
    # related stories can be NewsArticle nodes too), not a bare WebPage.
    nodes = sorted(_jsonld_articles(tree), key=lambda n: _rank(n, shown))
    node = nodes[0] if nodes else {}
    site_name = meta.get("og:site_name", "")
    headline = _text(node.get("headline"))
    if headline.endswith(("…", "...")) or any(
            len(s) > len(_fold(headline)) and s.startswith(_fold(headline)) for s in shown):
        headline = ""  # cut short (search engines once asked for 110 characters)
    titles = [headline, meta.get("og:title", ""),
              _first_text(tree, "//h1"), meta.get("twitter:title", ""),
              _first_text(tree, "//title")]
    authors = [*_names(node.get("author")), *_names(node.get("creator"))]
    for key in ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator",
                "byl"):
        value = meta.get(key, "")
        if value and not value.startswith(("http://", "https://")):
            authors.extend(part for part in re.split(r"\s*(?:,|;|\band\b|&)\s*", value) if part)
    for element in tree.xpath("//*[@rel='author' or @itemprop='author']"):
        authors.append(" ".join(element.text_content().split()))
    sections = [_text(s) for s in _as_list(node.get("articleSection"))]
    sections += [meta.get("article:section", ""), meta.get("section", "")]
    description = (_text(node.get("description")) or meta.get("og:description", "")
                   or meta.get("description", "") or meta.get("twitter:description", ""))
    body = node.get("articleBody")
    article_body = html_to_text(_SHORTCODE.sub(" ", body)) if isinstance(body, str) else ""
    article_body = article_body or _app_state_body(tree)
    image = (meta.get("og:image") or meta.get("og:image:url") or meta.get("og:image:secure_url")
             or meta.get("twitter:image") or meta.get("twitter:image:src")
             or _jsonld_image(node.get("image")))
    language = (tree.get("lang") or _text(node.get("inLanguage")) or meta.get("og:locale", ""))
    return DeclaredMeta(
        titles=_unique(clean_title(_strip_site(t, site_name)) for t in titles),
        authors=_unique(" ".join(a.split()) for a in authors if 1 < len(a) < 100),
        sections=_unique(" ".join(s.split()) for s in sections),
        site_name=clean_title(site_name),
        description=" ".join(html_to_text(description).split()),
        article_body=article_body,
        captions=_captions(tree),
        image=(image or "").strip(),
        image_alt=clean_title(meta.get("og:image:alt") or meta.get("twitter:image:alt") or ""),
        language=language.strip().replace("_", "-").lower(),
        meta=meta,
        live="liveblogposting" in _types(node),
    )


def _app_state_body(tree: Any) -> str:
    """The story's text from a JavaScript app's state (Next.js ``__NEXT_DATA__``, Arc XP
    ``content_elements``), for a page that renders its text in the browser."""
    for script in tree.xpath("//script[@id='__NEXT_DATA__' or @id='fusion-metadata']"):
        raw = (script.text or "").strip()
        if not raw.startswith("{") or len(raw) > _MAX_JSONLD:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        elements = _find_key(data, "content_elements", depth=0)
        texts = [html_to_text(e["content"]) for e in elements
                 if isinstance(e, dict) and e.get("type") == "text"
                 and isinstance(e.get("content"), str)]
        if texts:
            return "\n\n".join(t for t in texts if t)
    return ""


def _find_key(data: Any, key: str, depth: int) -> list[Any]:
    if depth > 8:
        return []
    if isinstance(data, dict):
        value = data.get(key)
        if isinstance(value, list):
            return value
        children = list(data.values())
    elif isinstance(data, list):
        children = data
    else:
        return []
    for child in children:
        found = _find_key(child, key, depth + 1)
        if found:
            return found
    return []


def _meta_tags(tree: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (element.get("property") or element.get("name") or element.get("itemprop")
               or "").strip().lower()
        value = element.get("content")
        if key and value and value.strip() and key not in found:
            found[key] = value.strip()
    return found


def _jsonld_articles(tree: Any) -> Iterator[dict[str, Any]]:
    for script in tree.xpath("//script[@type='application/ld+json']"):
        raw = (script.text or "").strip()
        if not raw or len(raw) > _MAX_JSONLD:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            # Publishers leave raw control characters (newlines in articleBody) in strings.
            try:
                data = json.loads(raw, strict=False)
            except ValueError:
                continue
        yield from (n for n in _walk(data, depth=0) if _types(n) & _ARTICLE_TYPES)


def _walk(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for entry in data:
            yield from _walk(entry, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if isinstance(data.get(key), (list, dict)):
                yield from _walk(data[key], depth + 1)


def _types(node: dict[str, Any]) -> set[str]:
    return {t.lower() for t in _as_list(node.get("@type")) if isinstance(t, str)}


def _rank(node: dict[str, Any], shown: set[str]) -> tuple[int, int, int]:
    is_page = _types(node) <= {"webpage"}
    headline = node.get("headline")
    matches = isinstance(headline, str) and bool(_fold(headline)) and any(
        s.startswith(_fold(headline)) or _fold(headline).startswith(s) for s in shown)
    return (1 if is_page else 0, 0 if matches or not shown else 1,
            0 if isinstance(node.get("articleBody"), str) else 1)


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return html_to_text(value).replace("\n", " ").strip() if isinstance(value, str) else ""


def _names(value: Any) -> list[str]:
    names: list[str] = []
    for entry in _as_list(value):
        if isinstance(entry, str) and not entry.startswith(("http://", "https://")):
            names.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names.append(entry["name"])
    return names


def _jsonld_image(value: Any) -> str:
    for entry in _as_list(value):
        if isinstance(entry, str):
            return entry
        if isinstance(entry, dict):
            url = entry.get("url") or entry.get("contentUrl")
            if isinstance(url, str):
                return url
    return ""


def _first_text(tree: Any, xpath: str) -> str:
    for element in tree.xpath(xpath):
        text = " ".join(element.text_content().split())
        if text:
            return text
    return ""


def _strip_site(title: str, site: str) -> str:
    """``Headline | Site`` (or ``-``, ``–``, ``—``, ``·``) without the site's name."""
    title = " ".join(title.split())
    if site:
        for sep in (" | ", " - ", " – ", " — ", " · ", " :: "):
            if title.endswith(sep + site):
                return title[: -len(sep + site)]
            if title.startswith(site + sep):
                return title[len(site + sep):]
    return title


def _captions(tree: Any) -> tuple[str, ...]:
    found: list[str] = []
    for element in tree.xpath("//figcaption | //*[@class] | //img"):
        if element.tag == "img":
            text = element.get("alt") or ""
            after = element.getnext()
            if after is not None and after.tag in ("span", "small", "em", "i", "cite"):
                found.append(" ".join(after.text_content().split()))  # <img><span>caption
        elif element.tag == "figcaption" or _CAPTION_CLASS.search(element.get("class") or ""):
            text = element.text_content()
        else:
            continue
        text = " ".join(text.split())
        if len(text) >= 12:
            found.append(text)
    return _unique(found)


def _unique(values: Iterator[str] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))
