"""Lines of a page that are not the story: headline, label, byline, date, caption, promo, links.

Two tools, both pure: ``is_debris`` judges a whole paragraph, and ``strip_run_on`` cuts the
headline, section label, byline, date and photo caption off the front of a paragraph into
which an extractor ran them together with the story's first sentence (it does that on short
pages). Both compare with what the page declares (``Known``) before falling back on the
shapes such lines take in English, Arabic, Chinese and Japanese.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    r"|يناير|فبراير|مارس|أبريل|إبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر"
    r"|كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين"
)
_DATE = re.compile(
    rf"(?:\b(?:{_MONTHS})\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:{_MONTHS})\b|\d{{4}}[-/.]\d{{1,2}}[-/.]"
    rf"\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}|\b\d{{1,2}}:\d{{2}}\b|\d{{4}}\s*年|\d+\s*月"
    rf"\s*\d+\s*日|\b(?:\d+|an?)\s+(?:minutes?|hours?|days?|weeks?)\s+ago\b"
    rf"|\b(?:published|updated|posted|last\s+updated|modified)\b|(?:{_MONTHS})\s+\d{{4}}"
    rf"|منذ\s+\d+|نشر\s+في|آخر\s+تحديث|发布时间|更新时间|発行|公開)",
    re.IGNORECASE,
)
_DATE_LEAD = re.compile(
    rf"^(?:(?:published|updated|posted|last\s+updated)\s*(?:on|at)?\s*:?\s*)?"
    rf"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
    rf"(?:(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+(?:{_MONTHS})\.?,?\s+\d{{4}}"
    rf"|(?:\d+|an?)\s+(?:seconds?|minutes?|mins?|hours?|hrs?|days?)\s+ago"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}|\d{{4}}\s*年\s*\d{{1,2}}\s*月\s*\d{{1,2}}\s*日"
    rf"(?:\s*\d{{1,2}}\s*[時时:]\s*\d{{1,2}}\s*分?)?)"
    rf"(?:,?\s*(?:at\s+)?\d{{1,2}}[:.]\d{{2}}\s*(?:[ap]\.?m\.?)?\s*(?:[A-Z]{{2,4}})?)?\s*[|·•\-–—]?\s*",
    re.IGNORECASE,
)
_BYLINE = re.compile(
    r"^(?:(?:by|written\s+by|reporting\s+by|words\s+by|story\s+by|report\s+by|text\s+by"
    r"|interview\s+by|compiled\s+by|edited\s+by|additional\s+reporting\s+by)\s+\S"
    r"|(?:بقلم|كتب|كتبت|إعداد|تقرير|بواسطة|تحرير)\s*[:：]?\s*\S"
    r"|(?:本报记者|记者|記者)\s*[：:/|]?\s*[^\s，。、]{1,6}(?:\s|$)"
    r"|(?:作者|撰文|文|编辑|责任编辑|責任編輯|編集|来源|來源)\s*[：:/|]\s*\S"
    r"|[가-힣]{2,4}\s*(?:기자|특파원)(?:\s|$))",
    re.IGNORECASE,
)
_CAPTION = re.compile(
    r"(?:\[(?:photo|image|picture|file\s+photo|video|صورة|الصورة)\b[^\]]*\]\s*$"
    r"|^(?:image|photo|picture|video)\s+(?:caption|source|credit)s?\b"
    r"|^(?:photo|image|picture|photograph|file\s+photo|caption|credit|illustration"
    r"|الصورة|صورة|تصوير|图片|圖片|写真|图|圖)\s*(?:credit)?\s*[:：|/]"
    r"|\((?:photo|image|file\s+photo|picture|صورة)\b[^)]*\)\s*\.?$"
    r"|(?:[/|(\[—–]|\bphoto\s*:?|\bcredit\s*:?)\s*(?:[^/|()\[\]]{0,60}(?:/|\bvia\s+))?"
    r"(?:getty\s+images|afp|epa|reuters|ap(?:\s+photo)?|associated\s+press|shutterstock"
    r"|anadolu(?:\s+agency)?|xinhua|sipa|alamy|file(?:\s+photo)?|رويترز|أ\s*ف\s*ب|فرانس\s+برس"
    r"|الأناضول|أسوشيتد\s+برس)\s*[)\]]?\s*\.?$"
    r"|(?:getty\s+images|shutterstock)\s*[)\]]?\.?$"
    r"|(?:^|[(\[])\s*(?:(?:photo|image|picture)\s+)?courtesy\s+of\b[^.]{0,80}[)\]]?\.?$"
    r"|^(?:图为|圖為|（图|（圖|（写真|写真＝))",
    re.IGNORECASE,
)
_CAPTION_MARK = re.compile(
    r"\[(?:photo|image|picture|file\s+photo|صورة|الصورة)\b[^\]]{0,200}\]"
    r"|\((?:photo|image|file\s+photo|صورة)\b[^)]{0,200}\)",
    re.IGNORECASE,
)
_PROMO = re.compile(
    r"sign\s*up\s+(?:for|to|now|here|today)|subscribe\s+(?:to|now|for|today|here)|our\s+newsletter"
    r"|newsletter\s*(?:here|now|:)|in\s+your\s+inbox|to\s+your\s+inbox"
    r"|get\s+(?:the\s+latest|our|the\s+best)\b.{0,60}\b(?:newsletter|inbox|app|email|updates)"
    r"|support\s+(?:our|independent|quality)\s+journalism"
    r"|become\s+a\s+(?:member|subscriber|supporter)|already\s+a\s+(?:subscriber|member)"
    r"|log\s*in\s+(?:to|here|now)|sign\s+in\s+to|create\s+(?:a\s+)?(?:free\s+)?account"
    r"|continue\s+reading|keep\s+reading|free\s+trial|download\s+(?:our|the)\s+app"
    r"|follow\s+us\b|join\s+(?:our|\d[\d,.]*\s*(?:k\s+)?(?:other\s+)?(?:readers|subscribers))"
    r"|exclusive(?:ly)?\s+(?:to|for)\s+(?:subscribers|members)|story\s+continues\s+below"
    r"|scroll\s+to\s+continue|listen\s+to\s+this\s+(?:article|story)"
    r"|\d+\s*(?:-|\s)?min(?:ute)?s?\s+read\b|reading\s+time|gift\s+(?:this\s+)?article|copy\s+link"
    r"|we\s+use\s+cookies|by\s+continuing\s+to\s+(?:use|browse)|save\s+articles?\s+to\s+read"
    r"|your\s+reading\s+list|click\s+here|tap\s+here|enable\s+javascript"
    r"|follow\s+(?:our\s+|the\s+)?live|gift\s+articles?|as\s+a\s+subscriber"
    r"|this\s+is\s+a\s+(?:developing|breaking)\s+(?:news\s+)?story|more\s+to\s+follow"
    r"|(?:this\s+(?:story|article)|it)\s+will\s+be\s+updated|check\s+back\s+(?:later\s+)?for"
    r"|news\s+tip|send\s+us\s+a\s+tip|(?:email|contact)\s+us\s+at"
    r"|report\s+an?\s+(?:error|typo|correction)"
    r"|send\s+any\s+friend\s+a\s+story|this\s+article\s+is\s+more\s+than\s+\d+\s+\w+\s+old"
    r"|add\s+to\s+(?:your\s+)?saved|for\s+subscribers\b|subscribers\s+only"
    r"|اشترك|النشرة\s+البريدية|تابعونا|حمّ?ل\s+تطبيق|للاشتراك|القائمة\s+البريدية"
    r"|订阅|訂閱|关注我们|關注我們|扫码|掃碼|下载.{0,6}客户端|購読|会員登録|メルマガ|登録はこちら",
    re.IGNORECASE,
)
# Promo words that a news sentence may also hold ("subscription prices rose"): debris only in
# a short line that is not a sentence ("Newsletter", "Advertisement", "Subscribe").
_PROMO_WEAK = re.compile(r"\b(?:sign\s*up|subscribe|subscription|newsletters?|advertisement"
                         r"|sponsored|log\s*in|sign\s+in|register)\b", re.IGNORECASE)
_RELATED = re.compile(
    r"^(?:related(?:\s+(?:articles?|stories|news|coverage|content|reading|links?))?"
    r"|read\s+(?:more|also|next|the\s+full)|also\s+read|see\s+also|recommended(?:\s+for\s+you)?"
    r"|more\s+(?:on\s+this|from|stories|news|coverage|on)|watch|listen|explainer|in\s+pictures"
    r"|you\s+may\s+(?:also\s+)?like|don'?t\s+miss|most\s+(?:read|popular|viewed)|trending"
    r"|اقرأ\s+(?:أيضا|أيضاً|ايضا|المزيد)|مواضيع\s+ذات\s+صلة|ذات\s+صلة|أخبار\s+ذات\s+صلة"
    r"|相关阅读|延伸阅读|相关新闻|推荐阅读|相关报道|阅读更多|延伸閱讀|相關新聞|関連記事"
    r"|あわせて読みたい|関連ニュース)\s*(?:[:：|»›>\-–—]|$)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?؟。！？\"'”’»)]\s*$")
# Notes about the story, above it: "Editor's note: …", "This story has been updated …".
_NOTE = re.compile(r"^(?:editor['’]?s\s+note\b|this\s+(?:story|article)\s+(?:has\s+been|was)\s+"
                   r"(?:updated|corrected)|correction\s*:|update\s*:|clarification\s*:)",
                   re.IGNORECASE)
# Words a byline holds besides names ("By Jane Doe and John Roe in Baghdad for Reuters").
_BYLINE_WORDS = frozenset({"and", "in", "for", "of", "the", "at", "de", "del", "la", "le", "al",
                           "bin", "ibn", "van", "von", "da", "di", "y", "with", "staff",
                           "reporter", "correspondent", "writer", "editor"})
_PROMO_MAX = 240  # characters: a promo is a short box; a long paragraph mentioning one is story
_LABEL_MAX_WORDS = 4


@dataclass(frozen=True)
class Known:
    """What the page declares, for telling its furniture from its story."""

    titles: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # section names, the site's name
    captions: tuple[str, ...] = ()


def fold(text: str) -> str:
    """Text reduced for comparison: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def is_byline_or_date(line: str, known: Known) -> bool:
    """A byline or a date line: the end of an article's header (what comes before is a
    standfirst, not the story)."""
    stripped = line.strip()
    if is_byline(stripped):
        return True
    folded = fold(stripped)
    if len(stripped) <= 100 and any(folded.startswith(fold(a)) for a in known.authors if a):
        return not _SENTENCE_END.search(stripped)
    return len(stripped) <= 90 and bool(_DATE.search(stripped)) and not _SENTENCE_END.search(
        stripped)


def is_debris(line: str, known: Known, *, leading: bool = False) -> bool:
    """True when the paragraph ``line`` is not part of the story.

    ``leading``: the line comes before the story's first paragraph, where a short label with
    no sentence in it (a section name, a kicker) is furniture too.
    """
    stripped = line.strip()
    if not stripped:
        return True
    folded = fold(stripped)
    if not folded:
        return True
    sentence = bool(_SENTENCE_END.search(stripped))
    if any(folded == fold(t) for t in (*known.titles, *known.labels)):
        return True
    if any(folded.startswith(fold(t)) and len(folded) <= len(fold(t)) + 30 and not sentence
           for t in known.titles if t):
        return True  # "Headline | Site", "Headline - Live updates"
    if any(folded == fold(c) for c in known.captions):
        return True
    if is_byline(stripped):
        return True
    if len(stripped) <= 100 and any(folded.startswith(fold(a)) for a in known.authors if a):
        return not sentence or len(stripped) < 60
    if len(stripped) <= 300 and _CAPTION.search(stripped):
        return True
    if len(stripped) <= _PROMO_MAX and (_RELATED.match(stripped) or _PROMO.search(stripped)):
        return True
    if len(stripped) <= 80 and not sentence and _PROMO_WEAK.search(stripped):
        return True
    if len(stripped) <= 90 and _DATE.search(stripped) and not sentence:
        return True
    if leading and _NOTE.match(stripped):
        return True
    # Before the story, a short line with no sentence in it is a section label or kicker.
    return leading and not sentence and len(folded.split()) <= _LABEL_MAX_WORDS and \
        len(folded) <= 40


def is_byline(line: str) -> bool:
    """"By Alaa Hussain in Baghdad", "Reporting by …", "بقلم …", "记者 …": a byline, and not
    a sentence that starts the same way ("By the end of the day, …", "By 2030 …")."""
    stripped = line.strip()
    match = _BYLINE.match(stripped)
    if len(stripped) > 150 or not match:
        return False
    words = stripped.split()
    if not re.match(r"(?:by|written|reporting|words|story|report|text|interview|compiled|edited"
                    r"|additional)\b", stripped, re.IGNORECASE):
        # The Arabic, Chinese, Japanese and Korean forms: short, or it is a sentence
        # ("記者会見で…" starts like "記者 …").
        return len(stripped) <= (80 if re.match(r"[\u0600-\u06ff]", stripped) else 40)
    after = stripped[match.end() - 1:].split()
    if not after or not (after[0][:1].isupper() or not after[0][:1].isascii()):
        return False  # "By the end …", "By 2030 …"
    names = [w for w in after[:5] if w.lower().strip(",;|") not in _BYLINE_WORDS]
    lowercase = [w for w in names if w[:1].islower() and len(w) > 3]
    return not lowercase and (len(words) <= 14 or not _SENTENCE_END.search(stripped))


def strip_run_on(paragraph: str, known: Known) -> str:
    """``paragraph`` without the label, headline, byline, date and caption run into its start.

    Each cut needs evidence: the page's declared headline, label, author or caption, or an
    unmistakable shape (``By …`` up to a known caption or author, ``[Photo …]``, a date). What
    is left must still hold a sentence, or the paragraph is returned unchanged.
    """
    whole = text = paragraph.strip()
    for _ in range(8):
        cut = _cut_once(text, known)
        if cut is None:
            break
        cut = cut.strip().lstrip(":|-–—·•,; ").strip()
        if cut == text:
            break
        text = cut
    if text == whole:
        return whole  # nothing was cut (most paragraphs): no sentence to look for
    return text if text and _SENTENCE_END.search(text) else whole


def _cut_once(text: str, known: Known) -> str | None:
    for value in (*known.labels, *known.titles):
        end = _prefix_end(text, value)
        if end:
            return text[end:].lstrip(" :|-–—·•")
    for title in known.titles:
        # A short label before the headline: "Iraq News Border guards tighten watch …".
        found = _find_words(text[:160], title)
        if found and len(text[:found[0]].split()) <= _LABEL_MAX_WORDS:
            return text[found[1]:].lstrip(" :|-–—·•")
    for author in known.authors:
        end = _prefix_end(text, author)
        if end:
            return text[end:]  # "John Smith 3 hours ago Iraq exported …"
    date = _DATE_LEAD.match(text)
    if date and date.end() and date.end() < len(text):
        return text[date.end():]
    if _BYLINE.match(text) and is_byline(" ".join(text.split()[:3])):
        return _cut_byline(text, known)
    for caption in known.captions:
        end = _prefix_end(text, caption)
        if end:
            return text[end:].lstrip(" .")
    head = text[:400]
    # Every caption mark opens with "[" or "(": most paragraphs have neither.
    mark = _CAPTION_MARK.search(head) if "[" in head or "(" in head else None
    if mark:
        return text[mark.end():].lstrip(" .")
    return None


def _cut_byline(text: str, known: Known) -> str | None:
    # The byline ends where a known caption starts, or after the last known author's name.
    best = 0
    for caption in known.captions:
        found = _find_words(text[:300], caption)
        if found and found[0] > 3:
            return text[found[0]:]
    for author in known.authors:
        found = _find_words(text[:200], author)
        if found:
            best = max(best, found[1])
    if best:
        rest = text[best:]
        place = re.match(r"^,?\s+in\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?", rest)
        return rest[place.end():] if place else rest
    return None


def _prefix_end(text: str, value: str) -> int:
    if text.isascii() and value.isascii():
        # A match at the start must begin with the first word (ASCII: no case quirks). A
        # value that starts with a letter, digit or "_" starts with its first word: its first
        # character settles most texts without splitting the value into words.
        first = value[:1]
        if (first.isalnum() or first == "_") and text[:1].lower() != first.lower():
            return 0
        words = _words(value)
        if words and text[:len(words[0])].lower() != words[0].lower():
            return 0
    found = _find_words(text[: len(value) + 40], value)
    return found[1] if found and found[0] == 0 else 0


_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=1024)
def _words(value: str) -> tuple[str, ...]:
    # A title is looked for several times in its own item's text: split it once.
    return tuple(_WORD.findall(value))


def _find_words(text: str, value: str) -> tuple[int, int] | None:
    """Where ``value``'s words occur in ``text`` (punctuation and case ignored), ending a word.

    Found only when what follows is not the rest of a sentence that happens to start with the
    same words (a lowercase word); trailing punctuation (``?``, ``:``, ``|``) is included.
    """
    first = _WORD.search(value)
    if first is None:
        return None  # no words to find
    if text.isascii() and value.isascii():
        # Every word must be there for the pattern to match: most texts lack one, and then
        # no pattern is compiled (one per title: the re cache cannot hold them all). The
        # first word alone settles most of them, before the value is split into words.
        lowered = text.lower()
        if first.group().lower() not in lowered or any(
                w.lower() not in lowered for w in _words(value)):
            return None
    words = _words(value)
    pattern = r"\W*".join(re.escape(w) for w in words)
    for match in re.finditer(rf"(?<!\w){pattern}[^\w\s]*(?=\s|$)", text, re.IGNORECASE):
        rest = text[match.end():].lstrip(" :|-–—·•")
        if not rest[:1].islower():
            return match.start(), match.end()
    return None


def known_from(titles: Iterable[str], authors: Iterable[str], labels: Iterable[str],
               captions: Iterable[str]) -> Known:
    return Known(tuple(t for t in titles if t), tuple(a for a in authors if a),
                 tuple(lb for lb in labels if lb), tuple(c for c in captions if c))
