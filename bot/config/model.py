"""The typed, frozen shape of config.yaml (pydantic models, validators, derived views).

config.yaml: parsed once, validated, frozen, and passed in explicitly.

Editors own this file, so every error names the YAML path and what to do
(``channels.x-en.schedule.max_per_day: must be at least 1``), unknown keys are errors (a typo
must never be silently ignored), and secrets only ever come from the environment through
``${VAR}`` references. A secret that is referenced but unset does not stop the bot: the channel
sends nothing (previewed by ``newsbot once``, held by ``newsbot run``) and ``newsbot check``
says which variable is missing, never its value.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.channels.registry import platform_for, platforms
from bot.config.base import Duration, FrozenModel
from bot.config.channel import ChannelSettings
from bot.config.desk import Desk

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Smtp(FrozenModel):
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    pool_size: int = Field(default=4, ge=1, le=64)
    timeout: Duration = timedelta(seconds=30)
    # PEM bundle of the CAs to trust for this relay instead of the system's (an internal
    # relay with its own CA). Held as an absolute path: a relative one is resolved against
    # config.yaml's folder while the file is read (see _resolve_ca_file).
    ca_file: str | None = None

    @field_validator("port", mode="before")
    @classmethod
    def _port_from_env(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @field_validator("ca_file")
    @classmethod
    def _resolve_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Resolve against the folder parse_config passes in the validation context, and
        load the bundle now: a wrong path should stop ``newsbot check``, not the 07:00 run."""
        if not value:
            return None
        import ssl  # only a config with a ca_file needs it here

        base = Path((info.context or {}).get("base_dir", "."))
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            ssl.create_default_context(cafile=str(path))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file; give the PEM file of the CA that signed "
                             "the relay's certificate (relative to config.yaml's folder)"
                             ) from None
        except ssl.SSLError:
            raise ValueError(f"{path} holds no PEM certificate; give the CA certificate(s) "
                             "in PEM form (-----BEGIN CERTIFICATE-----)") from None
        except OSError as exc:
            raise ValueError(f"{path}: cannot read it ({exc.strerror}); give a readable "
                             "PEM file") from None
        return str(path)

    @model_validator(mode="after")
    def _check_security(self) -> Smtp:
        if self.sends_password_in_clear:
            raise ValueError(
                f"security: none would send the AUTH password to {self.host} unencrypted; "
                "use security: starttls or ssl (a username with security: none is accepted "
                "only for a relay on this machine: localhost, 127.0.0.1, ::1)")
        if self.ca_file and self.security == "none":
            raise ValueError("ca_file is set but security is none, so no certificate would "
                             "be checked; use security: starttls or ssl, or remove ca_file")
        return self

    @property
    def sends_password_in_clear(self) -> bool:
        """AUTH would cross a network unencrypted. A relay on this machine is the exception:
        the password never leaves it."""
        return bool(self.username) and self.security == "none" and not is_loopback_host(self.host)


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` (or a name under it) or a loopback address; a name that may resolve
    anywhere is not. None (no relay configured: the channel is in preview and connects
    nowhere) counts as this machine."""
    if host is None:
        return True
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything, so it counts as the network


#: The digest's ``type:``. The digest is its own pipeline (bot/digest/), not a platform.
DIGEST_TYPE = "email"


class EmailChannel(ChannelSettings):
    """An email digest: one round-up on a cron, sent to subscribers (bot/digest/)."""

    type: Literal["email"]
    smtp: Smtp = Smtp()
    from_: str = Field(alias="from")
    reply_to: str | None = None
    # Where List-Unsubscribe's mailto: points (default: reply_to, else from). Mail to it is
    # read by `newsbot digest unsubscribe-mail`; see the README.
    unsubscribe_address: str | None = None
    # Envelope sender for bounces, as VERP: each copy goes out from local+<token>@domain, and
    # `newsbot digest bounce-mail` reads the bounces that come back to it (see the README).
    bounce_address: str | None = None
    subject: str = "{{ digest.title }}: {{ digest.date }}"
    title: str = "News digest"
    max_articles: int = Field(default=30, ge=1)
    group_by: Literal["section", "source", "none"] = "section"
    bounce_limit: int = Field(default=3, ge=1)
    list_id: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("from_", "reply_to", "unsubscribe_address", "bounce_address")
    @classmethod
    def _has_an_address(cls, value: str | None) -> str | None:
        # Checked here so a typo is reported against its YAML path at load, not at 07:00.
        if value is not None and "@" not in parseaddr(value)[1].strip("@"):
            raise ValueError(f"{value!r} has no email address in it "
                             "(write it as digest@news.example.org or \"Name <digest@…>\")")
        return value


#: What ``smtp.host`` unset means for a digest: it runs in preview, like a platform channel
#: without its token.
DIGEST_CREDENTIALS: tuple[str, ...] = ("smtp.host",)

# The channel types: every posting platform the registry finds in bot/channels/, plus the
# digest's own. A platform module is imported here for its settings model only (no SDK).
if TYPE_CHECKING:
    ChannelConfig = ChannelSettings
else:
    ChannelConfig = Annotated[
        Union[(*(p.settings for p in platforms().values()), EmailChannel)],
        Field(discriminator="type"),
    ]


def channel_types() -> tuple[str, ...]:
    """Every ``type:`` a channel may have."""
    return (*platforms(), DIGEST_TYPE)


def required_credentials(cfg: ChannelSettings) -> tuple[str, ...]:
    """The fields (dotted paths) this channel needs set to send for real."""
    if isinstance(cfg, EmailChannel):
        return DIGEST_CREDENTIALS
    return platform_for(cfg).credentials


# ---------------------------------------------------------------- sources and the file


class Source(FrozenModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str  # http(s) URL, or a file path relative to config.yaml
    every: Duration = timedelta(minutes=5)
    language: str = ""
    name: str = ""
    fetch_pages: Literal["auto", "always", "never"] = "auto"

    @property
    def is_remote(self) -> bool:
        return self.url.startswith(("http://", "https://"))


def _ip_network(entry: str) -> str:
    try:
        return str(ipaddress.ip_network(entry.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP network; write it like 10.1.2.0/24 (or one "
                         "address, like 10.1.2.5)") from None


class Fetching(FrozenModel):
    timeout: Duration = timedelta(seconds=20)
    max_bytes: int = Field(default=10_000_000, ge=1024)
    max_redirects: int = Field(default=5, ge=0)
    per_host: int = Field(default=2, ge=1)
    # One source's whole poll (its feed and the article pages it needs, waits for a free
    # per-host slot included) ends by this; unset: three times ``timeout``. A page that is
    # not in by then is left out and the item keeps the feed's own summary.
    source_deadline: Duration | None = None
    # Parsing one feed ends by this: a feed that takes longer (a hostile one, at the size cap)
    # is stopped and is the source's error, so it costs at most this much CPU per poll.
    parse_timeout: Duration = timedelta(seconds=10)
    user_agent: str = "newsbot/0.1 (+https://github.com/newsroom/newsbot)"
    # Serve news.example.org article pages from this folder instead of the network: the
    # bundled samples use it so the quick start works offline. Leave unset in production.
    offline_pages: str | None = None
    # Networks that feed content may point into (item links, images): the outbound-URL policy
    # (bot/urlpolicy.py) refuses every non-public address unless it is listed here.
    allow_private: tuple[Annotated[str, AfterValidator(_ip_network)], ...] = ()

    @field_validator("timeout", "source_deadline", "parse_timeout")
    @classmethod
    def _positive_time(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0s; write it like 20s")
        return value

    @property
    def deadline(self) -> timedelta:
        """How long one source's poll may take, page fetches and slot waits included."""
        return self.source_deadline or self.timeout * 3


class SubscribeLimit(FrozenModel):
    """How hard the public subscribe form can be pushed: it sends email on request, so
    without limits anyone could aim it at a stranger's inbox or at our SMTP relay."""

    per_client: int = Field(default=5, ge=1)  # subscribe POSTs per client address per window
    window: Duration = timedelta(minutes=10)
    # One confirmation email per address and digest this often, and at most per day.
    confirm_cooldown: Duration = timedelta(minutes=10)
    confirm_per_day: int = Field(default=3, ge=1)

    @field_validator("window", "confirm_cooldown")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s; write it like 10m")
        return value


class Web(FrozenModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs). Empty: every client
    # is the address that connected, and the header is ignored (anyone can write it).
    trusted_proxies: tuple[str, ...] = ()
    subscribe_limit: SubscribeLimit = SubscribeLimit()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        networks: list[str] = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network; write it "
                                 "like 10.0.0.5 or 10.0.0.0/8") from None
        return tuple(networks)


class Corrections(FrozenModel):
    """What happens when the feed changes the title or summary of an article already posted.

    Within ``window`` of each post, a channel whose platform can edit a sent post corrects
    it in place (ending with ``note``, when set); other channels record that they could not.
    A window of 0s turns corrections off.
    """

    window: Duration = timedelta(hours=48)
    note: str = "Updated"


class Config(FrozenModel):
    timezone: str = "UTC"
    store: str = "sqlite:///newsbot.db"
    public_url: str = "http://127.0.0.1:8080"
    preview_dir: str = "preview"
    templates_dir: str | None = None  # files here override the bundled templates by name
    backfill: Duration = timedelta(hours=24)
    dispatch_every: Duration = timedelta(seconds=15)
    secret_key: SecretStr | None = None  # HMAC key for unsubscribe links
    fetch: Fetching = Fetching()
    corrections: Corrections = Corrections()
    web: Web = Web()
    desk: Desk = Desk()
    sources: tuple[Source, ...] = ()
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)

    # Filled in by load_config, not by the editors' file.
    base_dir: Path = Path(".")
    # YAML path prefix → the unset variables it references
    missing_env: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Config:
        seen: set[str] = set()
        for index, source in enumerate(self.sources):
            if source.id in seen:
                raise ValueError(f"sources[{index}].id: {source.id!r} is used twice")
            seen.add(source.id)
        for name, channel in self.channels.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise ValueError(f"channels.{name}: names use letters, digits, - _ . only")
            for source_id in channel.route.sources:
                if source_id not in seen:
                    hint = _did_you_mean(source_id, seen) or (
                        f"; the sources are: {', '.join(sorted(seen))}" if seen else
                        "; add it under sources: first")
                    raise ValueError(
                        f"channels.{name}.route.sources: no source has id {source_id!r}{hint}"
                    )
            if channel.schedule.timezone:
                _zone(channel.schedule.timezone)
            if isinstance(channel, EmailChannel) and not channel.schedule.cron:
                raise ValueError(
                    f"channels.{name}.schedule.cron: an email digest needs a cron, "
                    'e.g. cron: "0 7 * * *" for every day at 07:00'
                )
        return self

    # -- derived views ---------------------------------------------------------

    def zone_for(self, channel: str) -> ZoneInfo:
        """The time zone a channel's schedule is read in."""
        own = self.channels[channel].schedule.timezone
        return _zone(own or self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def missing_credentials(self, channel: str) -> tuple[str, ...]:
        """Environment variables (or keys) this channel lacks to send for real."""
        prefix = f"channels.{channel}."
        missing = {var for path, names in self.missing_env.items()
                   if path.startswith(prefix) for var in names}
        config = self.channels[channel]
        for key in required_credentials(config):
            value: Any = config
            for part in key.split("."):
                value = getattr(value, part, None)
            absent = value is None or (
                isinstance(value, SecretStr) and not value.get_secret_value())
            if absent and not any(p.startswith(prefix + key) for p in self.missing_env):
                missing.add(key)
        return tuple(sorted(missing))

    @property
    def store_url(self) -> str:
        """The store URL, with a relative SQLite path taken relative to config.yaml's folder
        (like every other path in the file), so the bot finds its data from any directory."""
        prefix = "sqlite:///"
        if self.store.startswith(prefix) and not self.store.startswith(prefix + "/"):
            rest = self.store[len(prefix):]
            if rest and not rest.startswith(":memory:"):
                return prefix + str(self.resolve_path(rest))
        return self.store

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone; use an IANA name like Asia/Baghdad") from None


def _did_you_mean(word: str, options: Any) -> str:
    import difflib  # only a config with a mistake needs it

    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
