"""Editors' controls: plain functions over (config, store), called by the CLI and the tests.

Every action is a row change in the store, so it survives restarts and applies to every
worker on the same store at its next dispatch tick: pause/resume a channel, hold/release,
skip or post-now a delivery, retry a failed one, approve one waiting for approval, move it
to another time, or give it an editor's own text. ``queue`` and ``plan`` only read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.config import Config, EmailChannel
from bot.durations import format_duration
from bot.models import Delivery, DeliveryStatus
from bot.plan import APPROVAL_WINDOW_NOTE, PRIORITY_HIGH, PlannedPost, Why, project

if TYPE_CHECKING:
    # Annotations only: ``newsbot queue`` runs this module without loading SQLAlchemy.
    from bot.store import Store
    from bot.store.light import QueueStore

__all__ = ["BulkResult", "ChannelPlan", "EditRefused", "QueueEntry", "approve", "edit_text",
           "for_each", "history", "hold", "known_channel", "pause", "plan", "post_now", "queue",
           "release", "reschedule", "resume", "retry", "select_deliveries", "skip"]

_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.AWAITING, DeliveryStatus.HELD)


# ------------------------------------------------------------------ channels


def known_channel(config: Config, store: QueueStore, channel: str) -> None:
    """Raise LookupError naming the channels when ``channel`` is neither configured nor in
    the store (a removed channel's rows are kept, so it may still be named)."""
    if channel in config.channels or channel in store.counts_by_status():
        return
    names = ", ".join(sorted(config.channels)) or "none configured"
    raise LookupError(f"no channel is named {channel!r} (channels: {names})")


def pause(config: Config, store: Store, channel: str, *, now: datetime) -> None:
    """Stop posting on ``channel`` (every worker, until resumed); deliveries keep queueing."""
    known_channel(config, store, channel)
    store.update_channel(channel, now=now, paused=True)


def resume(config: Config, store: Store, channel: str, *, now: datetime) -> None:
    """Post on ``channel`` again; what queued meanwhile goes out under its schedule."""
    known_channel(config, store, channel)
    store.update_channel(channel, now=now, paused=False)


# ------------------------------------------------------------------ deliveries


def _change(store: Store, delivery_id: int, to: DeliveryStatus, *, now: datetime,
            allowed: Sequence[DeliveryStatus], verb: str, **values: object) -> Delivery:
    if store.set_status(delivery_id, to, now=now, allowed_from=allowed, **values):
        changed = store.get_delivery(delivery_id)
        assert changed is not None
        return changed
    current = store.get_delivery(delivery_id)
    if current is None:
        raise LookupError(f"no delivery has id {delivery_id} (see `newsbot queue`)")
    states = " or ".join(s.value for s in allowed)
    raise ValueError(f"delivery {delivery_id} ({current.channel}) is {current.status.value}; "
                     f"only {states} deliveries can be {verb}")


def hold(store: Store, delivery_id: int, *, now: datetime) -> Delivery:
    """Keep a pending (or awaiting approval) delivery from going until it is released."""
    return _change(store, delivery_id, DeliveryStatus.HELD, now=now,
                   allowed=[DeliveryStatus.PENDING, DeliveryStatus.AWAITING], verb="held")


def approve(store: Store, delivery_id: int, *, now: datetime) -> Delivery:
    """Let a delivery waiting for approval go, under its channel's schedule. A post in its
    approval window (``approval: {window: …}``) need not wait for the window to end."""
    current = store.get_delivery(delivery_id)
    if current is not None and current.status is DeliveryStatus.PENDING \
            and current.note == APPROVAL_WINDOW_NOTE:
        return _change(store, delivery_id, DeliveryStatus.PENDING, now=now,
                       allowed=[DeliveryStatus.PENDING], verb="approved",
                       due_at=min(current.due_at, now), note="approved by an editor")
    return _change(store, delivery_id, DeliveryStatus.PENDING, now=now,
                   allowed=[DeliveryStatus.AWAITING], verb="approved",
                   note="approved by an editor")


def reschedule(store: Store, delivery_id: int, due_at: datetime, *, now: datetime) -> Delivery:
    """Move a waiting delivery to ``due_at`` (its channel's windows, gap and cap still
    apply then). It keeps its state: a held post stays held, an unapproved one unapproved."""
    if due_at.tzinfo is None:
        raise ValueError("give the new time with its time zone")
    current = store.get_delivery(delivery_id)
    if current is None:
        raise LookupError(f"no delivery has id {delivery_id} (see `newsbot queue`)")
    return _change(store, delivery_id, current.status, now=now, allowed=_WAITING,
                   verb="rescheduled", due_at=due_at, priority=min(current.priority, 0))


class EditRefused(ValueError):
    """The platform would refuse the edited text; the message says why, in its terms."""


def edit_text(config: Config, store: Store, delivery_id: int, text: str, *,
              now: datetime) -> Delivery:
    """Give a waiting delivery an editor's own text, sent instead of the template.

    The text is checked first against the channel's platform (Telegram's HTML subset and
    UTF-16 limit, X's weighted 280, with or without a photo as the post would go); a text the
    platform would refuse raises ``EditRefused`` and nothing is stored. An empty text puts
    the template back.
    """
    current = store.get_delivery(delivery_id)
    if current is None:
        raise LookupError(f"no delivery has id {delivery_id} (see `newsbot queue`)")
    cfg = config.channels.get(current.channel)
    if cfg is None or isinstance(cfg, EmailChannel):
        raise ValueError(f"delivery {delivery_id} ({current.channel}): only Telegram and X "
                         "posts can be edited")
    text = text.replace("\r\n", "\n").strip()
    if text:
        from bot.channels import post_format

        article = store.get_article(current.article_id)
        fmt = post_format(cfg)
        measured = fmt.measure(text, with_media=fmt.media and bool(article.usable_image_url))
        if not measured.ok:
            raise EditRefused(f"{current.channel}: not saved: {measured.problem}")
    if not store.set_edited_text(delivery_id, text, now=now,
                                 statuses=tuple(s.value for s in _WAITING)):
        raise ValueError(f"delivery {delivery_id} ({current.channel}) is "
                         f"{current.status.value}; only waiting posts can be edited")
    changed = store.get_delivery(delivery_id)
    assert changed is not None
    return changed


def release(store: Store, delivery_id: int, *, now: datetime) -> Delivery:
    """Put a held delivery back in the queue at its place (its due time is unchanged)."""
    return _change(store, delivery_id, DeliveryStatus.PENDING, now=now,
                   allowed=[DeliveryStatus.HELD], verb="released")


def skip(store: Store, delivery_id: int, *, now: datetime,
         note: str = "skipped by an editor") -> Delivery:
    """Never post this delivery. The row stays (as skipped, with the note)."""
    return _change(store, delivery_id, DeliveryStatus.SKIPPED, now=now,
                   allowed=[*_WAITING, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN],
                   verb="skipped", note=note)


def post_now(store: Store, delivery_id: int, *, now: datetime) -> Delivery:
    """Send at the next dispatch tick: due now, with priority, so windows and the gap do not
    hold it. The daily cap and the platform's rate limits still do."""
    return _change(store, delivery_id, DeliveryStatus.PENDING, now=now, allowed=_WAITING,
                   verb="posted now", due_at=now, priority=PRIORITY_HIGH,
                   note="post-now by an editor")


def retry(store: Store, delivery_id: int, *, now: datetime | None = None,
          backfill: timedelta | None = None) -> Delivery:
    """Put a failed, unknown or skipped delivery back in the queue (an editor's decision).

    A skipped one (an editor's skip, a preview, an overflow drop) comes back only while its
    article is within ``backfill`` of ``now``, the window in which a new article is still
    announced: older news would arrive stale.
    """
    now = now or datetime.now(UTC)
    current = store.get_delivery(delivery_id)
    if current is None:
        raise LookupError(f"no delivery has id {delivery_id} (see `newsbot history`)")
    if current.status is DeliveryStatus.SKIPPED and backfill is not None:
        article = store.get_article(current.article_id)
        age = now - article.published_at
        if age > backfill:
            raise ValueError(
                f"delivery {delivery_id} ({current.channel}) is skipped and its article was "
                f"published {format_duration(age)} ago, beyond the backfill window "
                f"({format_duration(backfill)}); it would arrive stale, so it stays skipped")
    ok = store.set_status(delivery_id, DeliveryStatus.PENDING, now=now,
                          allowed_from=[DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN,
                                        DeliveryStatus.SKIPPED],
                          due_at=now, claimed_by="", note="requeued by an editor")
    delivery = store.get_delivery(delivery_id)
    assert delivery is not None
    if not ok:
        raise ValueError(f"delivery {delivery_id} ({delivery.channel}) is "
                         f"{delivery.status.value}; only failed, unknown or skipped deliveries "
                         "can be retried")
    return delivery


# ------------------------------------------------------------------ many at once


def select_deliveries(config: Config, store: Store, *, channel: str | None,
                      statuses: Sequence[DeliveryStatus]) -> list[Delivery]:
    """The deliveries a bulk action (``--channel C --status failed``) would act on."""
    if channel is not None:
        known_channel(config, store, channel)
    return store.deliveries(statuses=statuses, channel=channel)


@dataclass(frozen=True)
class BulkResult:
    """What one action did to each of several deliveries: changed, or why not."""

    done: tuple[Delivery, ...]
    refused: tuple[tuple[int, str], ...]  # (id, why)


def for_each(ids: Sequence[int], action: Callable[[int], Delivery]) -> BulkResult:
    """Apply ``action`` to every id; one that is refused does not stop the others."""
    done: list[Delivery] = []
    refused: list[tuple[int, str]] = []
    for delivery_id in ids:
        try:
            done.append(action(delivery_id))
        except (LookupError, ValueError) as exc:
            refused.append((delivery_id, str(exc).strip("'\"")))
    return BulkResult(tuple(done), tuple(refused))


# ------------------------------------------------------------------ what happened


def history(config: Config, store: Store, *, status: DeliveryStatus = DeliveryStatus.SENT,
            channel: str | None = None, since: datetime | None = None,
            limit: int | None = 20) -> list[Delivery]:
    """Deliveries in ``status`` (newest first), optionally of one channel and since a time.
    An unknown channel is an error, never an empty answer."""
    if channel is not None:
        known_channel(config, store, channel)
    return store.deliveries(statuses=[status], channel=channel, since=since, limit=limit,
                            newest_first=True)


# ------------------------------------------------------------------ what is waiting


@dataclass(frozen=True)
class QueueEntry:
    delivery: Delivery
    title: str
    zone: ZoneInfo
    # When it is expected to go, as `newsbot plan` says (windows, gap, cap applied); None:
    # not until someone acts (held, paused, no window ahead).
    expected: datetime | None = None

    @property
    def due_local(self) -> datetime | None:
        return self.expected.astimezone(self.zone) if self.expected is not None else None


def _zone(config: Config, channel: str) -> ZoneInfo:
    return config.zone_for(channel) if channel in config.channels else config.zone


def queue(config: Config, store: QueueStore, *, channel: str | None = None,
          now: datetime | None = None) -> list[QueueEntry]:
    """Pending and held deliveries, by channel then in the order the store claims them,
    each with the time ``plan`` expects it to go (never the raw earliest due time, which
    ignores windows, gaps and caps)."""
    now = now or datetime.now(UTC)
    rows = store.deliveries(statuses=_WAITING, channel=channel)
    articles = store.get_articles([d.article_id for d in rows])
    expected = {post.delivery.id: post.at
                for cp in plan(config, store, now=now, channel=channel) for post in cp.posts}
    return [QueueEntry(d, articles[d.article_id].title if d.article_id in articles else "?",
                       _zone(config, d.channel), expected.get(d.id)) for d in rows]


@dataclass(frozen=True)
class ChannelPlan:
    """One channel's upcoming posts, in the order they are expected to go."""

    channel: str
    zone: ZoneInfo
    paused: bool
    removed: bool  # no longer in config.yaml: its rows are kept, nothing is sent
    digest: bool  # an email digest: entries go with the digest's cron
    sent_today: int
    posts: tuple[PlannedPost, ...]
    titles: dict[int, str]


def plan(config: Config, store: QueueStore, *, now: datetime,
         channel: str | None = None) -> list[ChannelPlan]:
    """For each channel, its pending posts with the expected local send time and why."""
    waiting = store.deliveries(statuses=_WAITING, channel=channel)
    states = store.channel_states()
    articles = store.get_articles([d.article_id for d in waiting])
    names = [n for n in config.channels if channel in (None, n)]
    names += sorted({d.channel for d in waiting} - set(names))
    plans: list[ChannelPlan] = []
    for name in names:
        rows = [d for d in waiting if d.channel == name]
        zone = _zone(config, name)
        cfg = config.channels.get(name)
        state = states.get(name)
        hist = store.channel_history(name, now)
        removed = cfg is None or not cfg.enabled
        digest = isinstance(cfg, EmailChannel)
        if removed or digest:
            if removed:
                posts = tuple(PlannedPost(d, None, Why.REMOVED, "kept, not sent") for d in rows)
            else:
                assert cfg is not None
                at = _next_digest(cfg.schedule.cron, zone, now)
                posts = tuple(PlannedPost(d, at, Why.DIGEST, f"cron {cfg.schedule.cron}")
                              for d in rows)
        else:
            assert cfg is not None
            posts = tuple(project(hist, rows, now, schedule=cfg.schedule, zone=zone,
                                  paused=bool(state and state.paused)))
        today = now.astimezone(zone).date()
        sent_today = sum(1 for t in hist.recent if t.astimezone(zone).date() == today)
        plans.append(ChannelPlan(name, zone, bool(state and state.paused), removed, digest,
                                 sent_today, posts,
                                 {d.article_id: articles[d.article_id].title
                                  for d in rows if d.article_id in articles}))
    return plans


def _next_digest(cron: str | None, zone: ZoneInfo, now: datetime) -> datetime | None:
    if not cron:
        return None
    from apscheduler.triggers.cron import CronTrigger

    fire: datetime | None = CronTrigger.from_crontab(cron, timezone=zone).get_next_fire_time(
        None, now)
    return fire
