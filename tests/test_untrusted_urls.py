"""Feed content never reaches inside the network: the outbound-URL policy against every path.

Three loopback servers stand for three places. ``internal`` (127.0.0.1, and ``internal6`` on
[::1]) is the newsroom's inside: an admin page and an image holding a secret; every request it
receives is counted, and the tests expect none. ``public`` (127.0.0.2) stands for the internet:
the configs allow exactly 127.0.0.2/32, as an operator would allow a network, so the feeds and
"public" article pages there are fetched while 127.0.0.1 stays inside. What reaches the local
Telegram and X servers is checked too: no secret text, no photo, no media.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from bot.channels import make_channel
from bot.channels.telegram import TelegramSender
from bot.channels.telegram_pacing import Limits, Pacer
from bot.channels.telegram_platform import TelegramChannel
from bot.config import Config, load_config, parse_config
from bot.errors import ConfigError, UrlRefused
from bot.ingest.poll import PollReport, make_fetcher, poll_sources
from bot.models import Article, RenderedPost
from bot.store import Store
from bot.urlpolicy import UrlPolicy, check_url, untrusted_client
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.fakes.x_api import FakeXApi
from tests.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
SECRET = "INTERNAL-SECRET-7f3a"
SECRET_PAGE = (
    "<html><head><title>Admin</title>"
    "<meta property='og:image' content='/secret.png'></head><body><article>"
    f"<p>{SECRET}: the database password is hunter2, and this paragraph is long enough to be "
    "taken for the lede of an article by the extractor, which is the point of the test.</p>"
    f"<p>{SECRET} again, in a second paragraph of the internal page.</p></article></body></html>"
)
SECRET_PNG = b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\0" * 64
TEASER = "Teaser."  # too short to stand alone, so the article page is wanted
PUBLIC = "127.0.0.2/32"
NOW = datetime.now(UTC)


def start(host: str, port: int = 0) -> FeedServer:
    return FeedServer(host, port).start()


@pytest.fixture
def internal() -> Iterator[FeedServer]:
    server = start("127.0.0.1")
    server.add("/secret", SECRET_PAGE, content_type="text/html; charset=utf-8")
    server.add("/secret.png", SECRET_PNG, content_type="image/png")
    yield server
    server.stop()


@pytest.fixture
def internal6() -> Iterator[FeedServer]:
    server = start("::1")
    server.add("/secret", SECRET_PAGE, content_type="text/html; charset=utf-8")
    yield server
    server.stop()


@pytest.fixture
def public() -> Iterator[FeedServer]:
    server = start("127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(f"{SECRET} from a local file\n" * 5, encoding="utf-8")
    return path


def rss(*links: str) -> str:
    items = "".join(
        f"<item><guid>item-{n}</guid><title>Story {n}</title><link>{link}</link>"
        f"<description>{TEASER}</description></item>" for n, link in enumerate(links))
    return ("<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
            f"{items}</channel></rss>")


def config(*sources: dict[str, Any], allow: tuple[str, ...] = (PUBLIC,),
           channels: dict[str, Any] | None = None) -> Config:
    return Config.model_validate({
        "fetch": {"timeout": 2, "allow_private": list(allow)},
        "sources": [{"fetch_pages": "always", **s} for s in sources],
        "channels": channels or {},
    })


async def poll(cfg: Config, store: Store) -> PollReport:
    async with make_fetcher(cfg) as fetcher:
        [report] = await poll_sources(cfg, store, now=NOW, fetcher=fetcher)
    assert report.ok, report.error
    return report


def stored(store: Store) -> list[Article]:
    return list(store.get_articles(list(range(1, 50))).values())


def assert_nothing_internal_kept(store: Store) -> None:
    for article in stored(store):
        assert SECRET not in f"{article.title} {article.summary} {article.text}"


# ---------------------------------------------------------------- article pages


async def test_item_links_into_the_network_are_never_fetched(
        public: FeedServer, internal: FeedServer, internal6: FeedServer,
        sqlite_store: Store) -> None:
    links = [internal.url("/secret"), internal6.url("/secret"),
             f"http://localhost:{internal.port}/secret",
             f"http://[::ffff:127.0.0.1]:{internal.port}/secret"]
    feed = public.add("/feed.xml", rss(*links))

    report = await poll(config({"id": "hostile", "url": feed}), sqlite_store)

    assert internal.requests == [] and internal6.requests == []
    assert report.new == 4  # each item still goes out, with the feed's own summary
    assert {a.summary for a in stored(sqlite_store)} == {TEASER}
    assert_nothing_internal_kept(sqlite_store)
    notes = "\n".join(report.problems)
    assert "127.0.0.1 is a loopback address" in notes
    assert "::1 is a loopback address" in notes
    assert "localhost resolves to 127.0.0.1, a loopback address" in notes
    assert "a loopback address (127.0.0.1) in IPv6 form" in notes
    assert "fetch.allow_private" in notes  # says how to allow a network on purpose


async def test_a_redirect_hop_into_the_network_is_refused(
        public: FeedServer, internal: FeedServer, sqlite_store: Store) -> None:
    to_localhost = public.redirect("/go/1", f"http://localhost:{internal.port}/secret")
    to_metadata = public.redirect("/go/2", "http://169.254.169.254/latest/meta-data/")
    two_hops = public.redirect("/go/3", public.redirect("/go/4", internal.url("/secret")))
    feed = public.add("/feed.xml", rss(to_localhost, to_metadata, two_hops))

    report = await poll(config({"id": "hostile", "url": feed}), sqlite_store)

    assert internal.requests == []
    assert {r.path for r in public.requests} == {"/feed.xml", "/go/1", "/go/2", "/go/3",
                                                  "/go/4"}  # the public hops were followed
    notes = "\n".join(report.problems)
    assert "localhost resolves to 127.0.0.1, a loopback address" in notes
    assert "169.254.169.254 is a cloud metadata address" in notes
    assert notes.count("127.0.0.1 is a loopback address") == 1  # the hop after /go/4
    assert_nothing_internal_kept(sqlite_store)


async def test_a_source_redirecting_into_the_network_is_refused_but_its_own_host_is_trusted(
        public: FeedServer, internal: FeedServer, sqlite_store: Store) -> None:
    # config.yaml names the source, so its own host is fetched even on loopback; where it
    # redirects is the feed's say, not the editor's.
    hop = internal.redirect("/moved.xml", f"http://localhost:{internal.port}/secret")
    cfg = config({"id": "moved", "url": hop}, allow=())
    async with make_fetcher(cfg) as fetcher:
        [report] = await poll_sources(cfg, sqlite_store, now=NOW, fetcher=fetcher)
    assert [r.path for r in internal.requests] == ["/moved.xml"]
    assert not report.ok and "localhost resolves to 127.0.0.1" in report.error


async def test_an_allow_listed_network_is_fetched(
        internal: FeedServer, public: FeedServer, sqlite_store: Store) -> None:
    feed = public.add("/feed.xml", rss(internal.url("/secret")))
    report = await poll(config({"id": "intranet", "url": feed},
                               allow=(PUBLIC, "127.0.0.0/30")), sqlite_store)
    assert report.problems == ()
    # The operator allowed it: the page is used, and its image checked like any other.
    assert [r.path for r in internal.requests] == ["/secret", "/secret.png"]
    [article] = stored(sqlite_store)
    assert article.summary.startswith(SECRET)


async def test_links_that_cannot_be_fetched_are_notes_not_crashes(
        public: FeedServer, sqlite_store: Store) -> None:
    feed = public.add("/feed.xml", rss("http://xn--/story", "http://a..b/story",
                                       "http://[::1/story"))
    report = await poll(config({"id": "odd", "url": feed}), sqlite_store)
    notes = "\n".join(report.problems)
    assert notes.count("not a valid URL") == 2  # skipped: never linked or fetched
    assert "cannot resolve a..b" in notes  # kept, with the feed's summary
    assert [a.summary for a in stored(sqlite_store)] == [TEASER]


@pytest.mark.parametrize(("address", "problem"), [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"),
    ("10.1.2.3", "a private address"), ("172.16.0.1", "a private address"),
    ("192.168.1.1", "a private address"), ("fd12:3456::1", "a private address"),
    ("169.254.1.1", "a link-local address"), ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"), ("224.0.0.251", "a multicast address"),
    ("ff02::1", "a multicast address"), ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"), ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"), ("192.0.2.1", "a documentation address"),
    ("2001:db8::1", "a documentation address"), ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"), ("100.100.100.200", "a cloud metadata address"),
    ("::ffff:10.0.0.1", "a private address (10.0.0.1) in IPv6 form"),
    ("64:ff9b::7f00:1", "a loopback address (127.0.0.1) in IPv6 form"),
    ("2002:c0a8:101::1", "a private address (192.168.1.1) in IPv6 form"),
    ("93.184.215.14", None), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
    ("::ffff:93.184.215.14", None),
])
def test_which_addresses_are_inside(address: str, problem: str | None) -> None:
    assert UrlPolicy().address_problem(ip_address(address)) == problem


def test_metadata_addresses_stay_refused_even_inside_an_allowed_network() -> None:
    policy = UrlPolicy.allowing(["169.254.0.0/16", "0.0.0.0/0", "fd00::/8"])
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        assert policy.address_problem(ip_address(address)) == "a cloud metadata address"


# ---------------------------------------------------------------- file:, javascript:, paths


async def test_file_and_script_links_are_skipped_in_rss_with_the_reason(
        public: FeedServer, internal: FeedServer, secret_file: Path,
        sqlite_store: Store) -> None:
    links = [secret_file.as_uri(), f"file://localhost{secret_file}", "javascript:alert(1)",
             "data:text/html,<script>alert(1)</script>", "https://news.example.org/fine"]
    feed = public.add("/feed.xml", rss(*links))

    report = await poll(config({"id": "hostile", "url": feed, "fetch_pages": "never"}),
                        sqlite_store)

    assert [a.url for a in stored(sqlite_store)] == ["https://news.example.org/fine"]
    notes = "\n".join(report.problems)
    assert notes.count("its scheme is file:") == 2
    assert "its scheme is javascript:" in notes and "its scheme is data:" in notes
    assert notes.count("; skipped") == 4
    assert_nothing_internal_kept(sqlite_store)


async def test_json_feed_file_links_and_a_path_as_image_are_not_used(
        tmp_path: Path, secret_file: Path, sqlite_store: Store) -> None:
    feed = tmp_path / "feed.json"  # a local source: relative URLs in it resolve to paths
    feed.write_text(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "t",
        "items": [
            {"id": "1", "url": secret_file.as_uri(), "title": "One", "content_text": TEASER},
            {"id": "2", "url": f"file://localhost{secret_file}", "title": "Two",
             "content_text": TEASER},
            {"id": "3", "url": "https://news.example.org/three", "title": "Three",
             "content_text": TEASER, "image": "/etc/passwd"},
            {"id": "4", "url": "https://news.example.org/four", "title": "Four",
             "content_text": TEASER, "image": "file:///etc/passwd"},
            {"id": "5", "url": "https://news.example.org/five", "title": "Five",
             "content_text": TEASER, "image": f"file://localhost{secret_file}"},
        ]}), encoding="utf-8")

    report = await poll(config({"id": "local", "url": str(feed), "fetch_pages": "never"}),
                        sqlite_store)

    images = {a.url: a.image_url for a in stored(sqlite_store)}
    assert images == {
        # A path is read against the item's own link: a URL on its site, never a local file.
        "https://news.example.org/three": "https://news.example.org/etc/passwd",
        "https://news.example.org/four": None,
        "https://news.example.org/five": None,
    }
    notes = "\n".join(report.problems)
    assert notes.count("; skipped") == 2 and notes.count("its scheme is file:") == 2


# ---------------------------------------------------------------- images for Telegram and X


def fast_pacer() -> Pacer:
    return Pacer(Limits(per_chat_interval=0.0, margin=0.0, per_chat_per_window=10_000,
                        overall_per_second=10_000))


BAD_IMAGES = ["/etc/passwd", "file:///etc/passwd", "file://localhost/etc/passwd",
              "data:image/png;base64,iVBORw0KGgo=", "lead.jpg"]


async def test_telegram_never_gets_a_local_path_or_an_internal_image(
        telegram_api: FakeTelegramAPI, internal: FeedServer, secret_file: Path) -> None:
    telegram_api.flood_control = False
    cfg = TelegramChannel(type="telegram", token=TOKEN, chat="@news",
                          api_url=telegram_api.base_url, timeout=2)  # type: ignore[arg-type]
    channel = TelegramSender("tg", cfg, pacer=fast_pacer())  # the default policy
    images = [*BAD_IMAGES, str(secret_file), internal.url("/secret.png"),
              f"http://localhost:{internal.port}/secret.png"]
    try:
        receipts = [await channel.send(RenderedPost("tg", n, f"Post {n}", image_url=image))
                    for n, image in enumerate(images)]
    finally:
        await channel.close()

    assert [m.method for m in telegram_api.messages] == ["sendMessage"] * len(images)
    assert not any(method == "sendphoto" for method, _, _ in telegram_api.requests)
    assert internal.requests == []
    for receipt in receipts:  # each went out, as text, saying why (no ValueError, no unknown)
        assert receipt.platform_id and receipt.note.startswith("sent as text: image not used")


async def test_x_never_downloads_an_internal_or_local_image(
        x_api: FakeXApi, internal: FeedServer) -> None:
    cfg = config(channels={"x": x_api.channel_settings(media=True)})
    sender = make_channel("x", cfg.channels["x"], cfg)
    images = [*BAD_IMAGES, internal.url("/secret.png"),
              f"http://localhost:{internal.port}/secret.png"]
    try:
        receipts = [await sender.send(RenderedPost("x", n, f"Post {n}", image_url=image))
                    for n, image in enumerate(images)]
    finally:
        await sender.close()
    assert internal.requests == []
    assert x_api.media == {}
    assert [t.media_ids for t in x_api.tweets] == [()] * len(images)
    assert all("sent without image: image not fetched" in r.note for r in receipts)


async def test_og_image_of_an_allowed_page_pointing_inside_is_posted_nowhere(
        public: FeedServer, internal: FeedServer, sqlite_store: Store,
        telegram_api: FakeTelegramAPI, x_api: FakeXApi) -> None:
    page = SECRET_PAGE.replace(SECRET, "A public story").replace(
        "/secret.png", internal.url("/secret.png"))
    story = public.add("/story", page, content_type="text/html; charset=utf-8")
    feed = public.add("/feed.xml", rss(story))
    telegram_api.flood_control = False
    cfg = config({"id": "news", "url": feed}, channels={
        "tg": {"type": "telegram", "token": TOKEN, "chat": "@news",
               "api_url": telegram_api.base_url},
        "x": x_api.channel_settings(media=True)})

    await poll(cfg, sqlite_store)
    [article] = stored(sqlite_store)
    assert article.summary.startswith("A public story")  # the allowed page was used
    assert article.image_url == internal.url("/secret.png")  # noted, not fetched
    for name in ("tg", "x"):
        sender = make_channel(name, cfg.channels[name], cfg)
        try:
            receipt = await sender.send(RenderedPost(name, article.id, article.title,
                                                     link=article.url,
                                                     image_url=article.image_url))
        finally:
            await sender.close()
        assert "127.0.0.1 is a loopback address" in receipt.note

    assert internal.requests == []
    assert [m.method for m in telegram_api.messages] == ["sendMessage"]
    assert x_api.media == {} and len(x_api.tweets) == 1


async def test_a_page_image_that_is_a_local_file_is_not_kept(
        public: FeedServer, sqlite_store: Store) -> None:
    page = SECRET_PAGE.replace(SECRET, "A public story").replace(
        "/secret.png", "file:///etc/passwd")
    feed = public.add("/feed.xml", rss(public.add("/story", page, content_type="text/html")))
    await poll(config({"id": "news", "url": feed}), sqlite_store)
    [article] = stored(sqlite_store)
    assert article.summary.startswith("A public story") and article.image_url is None


# ---------------------------------------------------------------- DNS


async def test_the_connection_goes_to_the_address_that_was_checked(
        public: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A name that answers public the first time and internal afterwards (DNS rebinding),
    # with the internal server on the same port as the public one.
    inside = start("127.0.0.1", public.port)
    inside.add("/story", SECRET_PAGE, content_type="text/html")
    public.add("/story", "<html>public</html>", content_type="text/html")
    answers = iter(["127.0.0.2"] + ["127.0.0.1"] * 10)
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("rebind.test", b"rebind.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.test:{public.port}/story"
    try:
        # Checked once, connected to what was checked: a second lookup by the HTTP stack
        # would have been answered 127.0.0.1.
        async with untrusted_client(UrlPolicy.allowing([PUBLIC]), timeout=2) as client:
            response = await client.get(url)
        async with untrusted_client(UrlPolicy.allowing([PUBLIC]), timeout=2) as client:
            with pytest.raises(UrlRefused, match=r"rebind\.test resolves to 127\.0\.0\.1"):
                await client.get(url)  # a new connection is a new lookup, checked again
    finally:
        inside.stop()
    assert response.text == "<html>public</html>"
    assert public.requests[0].headers["host"] == f"rebind.test:{public.port}"
    assert inside.requests == []


async def test_https_to_the_checked_address_still_verifies_the_host_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The socket goes to 127.0.0.2, but TLS must still send SNI for, and verify the
    # certificate of, the name in the URL (a certificate for another name is refused).
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("public.test").configure_cert(context)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]

    class Hello(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

    server = ThreadingHTTPServer(("127.0.0.2", 0), Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("public.test", "other.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = server.server_address[1]
    try:
        async with untrusted_client(UrlPolicy.allowing([PUBLIC]), timeout=2) as client:
            response = await client.get(f"https://public.test:{port}/")
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://other.test:{port}/")
    finally:
        server.shutdown()
        server.server_close()
    assert response.text == "hello"
    assert names[0] == "public.test"


async def test_check_url_resolves_names_and_refuses_what_it_cannot_resolve() -> None:
    policy = UrlPolicy()
    with pytest.raises(UrlRefused, match=r"localhost resolves to 127\.0\.0\.1"):
        await check_url("http://localhost/a.jpg", policy)
    with pytest.raises(UrlRefused, match="does not resolve"):
        await check_url("https://no-such-host.invalid/a.jpg", policy)
    with pytest.raises(UrlRefused, match="scheme is file:"):
        await check_url("file:///etc/passwd", policy)
    await check_url("http://127.0.0.2/a.jpg", UrlPolicy.allowing([PUBLIC]))


# ---------------------------------------------------------------- configuration


def test_the_policy_is_on_in_the_quick_start_and_by_default() -> None:
    assert load_config(ROOT / "config.yaml").fetch.allow_private == ()
    assert parse_config("{}").fetch.allow_private == ()


def test_a_bad_allow_private_entry_names_its_yaml_path() -> None:
    with pytest.raises(ConfigError, match=r"fetch\.allow_private\[1\]: 'intranet' is not an IP "
                                          r"network; write it like 10\.1\.2\.0/24"):
        parse_config("fetch:\n  allow_private: [10.1.2.0/24, intranet]\n")
    allowed = parse_config("fetch:\n  allow_private: [10.1.2.7/24, '::1']\n").fetch
    assert allowed.allow_private == ("10.1.2.0/24", "::1/128")
