"""Remove what is on an article page but not of the story, before the extractor reads it.

trafilatura drops much of a page's chrome by itself, but it keeps what sits inside the story's
container: a photo's caption, a link's hover-card (its text runs into the sentence around the
link), a newsletter box or "Related" list between two paragraphs, a byline block. Publishers
mark these up consistently enough, by element (``figcaption``, ``aside``), by ARIA role and
hidden state, and by class or id words, for one set of rules to serve them all.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

# Class or id words (split on -, _, space and camelCase) that name non-story blocks.
_DEBRIS_WORDS = frozenset({
    "newsletter", "newsletters", "subscribe", "subscription", "subscriptions", "signup",
    "promo", "promotion", "cta", "paywall", "regwall", "upsell", "related", "recommended",
    "recommendations", "outbrain", "taboola", "mostread", "readnext", "alsoread", "morestories",
    "hovercard", "tooltip", "popover", "byline", "bylines", "dateline", "caption", "captions",
    "credit", "credits", "cap", "legend", "photocaption", "sharedaddy", "disqus", "breadcrumb",
    "breadcrumbs", "advertisement", "adslot", "donate", "donation", "membership",
    "relatedposts", "readtime", "standfirst", "dek", "subheadline", "strapline",
    "newsletterbox", "signupbox", "promoted", "keypoints", "tldr", "takeaways", "bio",
    "author", "authors", "contributor", "kicker", "eyebrow", "timestamp", "excerpt", "subtitle",
})
# Words that name furniture on most sites but that some put on the story's own blocks
# ("print-block", "article-text ad-injected", "social-embed" around a quote): such an element
# goes only when it holds no paragraph of prose.
_WEAK_WORDS = frozenset({
    "share", "sharing", "social", "comments", "comment", "tags", "ad", "ads", "advert", "dfp",
    "sponsored", "toolbar", "print", "listen", "reading", "modal", "popup", "meter", "piano",
    "highlights", "embed", "embeds", "trending", "popular", "interstitial", "tweet", "twitter",
    "instagram", "tiktok", "ribbon",
})
# Word pairs that only mean debris together ("hover card", "link preview", "read more" …).
_DEBRIS_PAIRS = frozenset({
    ("hover", "card"), ("link", "preview"), ("preview", "card"), ("bookmark", "card"),
    ("link", "card"), ("read", "more"), ("more", "from"), ("more", "on"), ("sign", "up"),
    ("most", "read"), ("also", "read"), ("read", "next"), ("more", "stories"),
    ("you", "may"), ("opt", "in"), ("see", "also"), ("embed", "card"), ("story", "card"),
    ("sub", "headline"), ("key", "points"), ("key", "takeaways"),
})
# Words that undo a debris word next to them ("has-related", "share-enabled", the trigger a
# hover-card hangs from, which holds the link's own words).
_STORY_WORDS = frozenset({"trigger", "enabled", "has", "anchor"})
# Inside a paragraph only these go: the rest of a sentence's markup is the sentence.
_INLINE_DEBRIS = frozenset({"hovercard", "tooltip", "popover", "popup", "caption", "credit",
                            "linkpreview", "previewcard", "linkcard"})
# Marks of a standfirst that sites also use for other things: removed only when the element
# holds exactly the page's declared description.
_STANDFIRST_WORDS = frozenset({"summary", "description", "deck", "subhead", "teaser", "desc"})
# Hover-cards, tooltips and screen-reader-only text inside a sentence, also inside compound
# class names ("tooltiptext", "c-hovercard__body", "sr-only").
_HOVER = re.compile(r"hover-?card|tool-?tip|popover|popup|link-?preview|preview-?card|link-?card"
                    r"|sr-only|visually-?hidden|screen-?reader|a11y-?hidden|assistive-?text")
_STYLE_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SPLIT = re.compile(r"[-_\s:./]+|(?<=[a-z])(?=[A-Z])")
_DROP_TAGS = ("figcaption", "aside", "template", "noscript", "form", "button", "dialog",
              "amp-ad", "amp-social-share", "amp-sidebar", "amp-consent")
_KEEP_TAGS = frozenset({"html", "body", "main", "article", "h1"})
_DROP_ROLES = frozenset({"tooltip", "dialog", "complementary", "alertdialog", "navigation"})


def prune_page(tree: Any, *, standfirst: str = "") -> None:
    """Remove caption, promo, related, hover-card, byline and hidden elements from ``tree``.

    ``standfirst``: the page's declared description; an element marked as a summary or deck
    (``article-summary``, ``field--description``) holding exactly that text is the standfirst,
    not the story, and goes too. An element that holds most of the page's paragraphs is never
    removed, whatever its class says, so a misleading class on the story's own container
    cannot empty the page.
    """
    total = _paragraph_chars(tree) or 1
    wanted = _fold(standfirst) if len(standfirst) >= 40 else ""
    doomed: list[Any] = []
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if not tag or tag in _KEEP_TAGS:
            continue
        if (_is_debris(element, tag) or (wanted and _is_standfirst(element, wanted))) and \
                _paragraph_chars(element) < 0.5 * total:
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is None:
            continue
        # Keep the text that follows the element inside its parent (it is the sentence's rest).
        tail = element.tail
        if tail:
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
        parent.remove(element)


def _is_debris(element: Any, tag: str) -> bool:
    in_paragraph = bool(element.xpath("ancestor::p"))
    if in_paragraph and _is_hover_card(element):
        # The card goes, never the words of the sentence it hangs from: a wrapper holding a
        # card of its own (``<span class=tooltip>word<span class=tooltiptext>…``) stays.
        return not any(_is_hover_card(inner) for inner in element.iterdescendants())
    if element.get("hidden") is not None or element.get("aria-hidden") == "true":
        return True
    if _STYLE_HIDDEN.search(element.get("style") or ""):
        return True
    if (element.get("role") or "").lower() in _DROP_ROLES:
        return True
    if tag in _DROP_TAGS:
        return tag != "aside" or not element.xpath(".//h1")
    names = f"{element.get('class') or ''} {element.get('id') or ''}".strip()
    if not names:
        return False
    words = [w.lower() for w in _SPLIT.split(names) if w]
    if any(w in _STORY_WORDS for w in words):
        return False
    pairs = {"".join(pair) for pair in itertools.pairwise(words)
             if pair in _DEBRIS_PAIRS}
    if in_paragraph:
        return any(w in _INLINE_DEBRIS for w in [*words, *pairs])
    if pairs or any(w in _DEBRIS_WORDS for w in words):
        return True
    return any(w in _WEAK_WORDS for w in words) and not _holds_prose(element)


def _holds_prose(element: Any) -> bool:
    """A paragraph of 150+ characters that is not mostly link text: story, not furniture."""
    for paragraph in element.iter("p"):
        text = paragraph.text_content()
        if len(text) >= 150:
            links = sum(len(a.text_content()) for a in paragraph.iter("a"))
            if links < 0.3 * len(text):
                return True
    return False


def _is_hover_card(element: Any) -> bool:
    if not isinstance(element.tag, str):
        return False
    names = f"{element.get('class') or ''} {element.get('id') or ''}".lower()
    return bool(_HOVER.search(names)) or (element.get("role") or "").lower() == "tooltip"


def _is_standfirst(element: Any, wanted: str) -> bool:
    names = f"{element.get('class') or ''} {element.get('id') or ''}"
    words = {w.lower() for w in _SPLIT.split(names) if w}
    return bool(words & _STANDFIRST_WORDS) and _fold(element.text_content()) == wanted


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _paragraph_chars(element: Any) -> int:
    return sum(len(p.text_content()) for p in element.iter("p"))
