"""Alerts for the editors: what needs a person, said once when it starts and once when it
ends (an *incident*), in the control chat.

Incidents, each with a stable key so it is told once however often it is looked at:

- ``source:<id>``: a source has been failing for over ``desk.source_alert_after`` (1 hour);
- ``attention:<channel>``: a channel is marked needs-attention (a bad token, a removed bot);
- ``spend:<channel>``: a channel that is billed per post (X) has spent over
  ``desk.x_spend_alert`` (80%) of its monthly budget;
- ``digest:<channel>``: the latest run of a digest failed, or stopped (still "sending" an
  hour after it started).

Alerts go to the control chat (``desk.telegram``) and by email to ``desk.alerts_email``
(through the SMTP relay of the first email digest channel, from its address). Which
incidents are open is kept in the store (``desk_values``), so a restart or another
worker taking the lease neither repeats an alert nor forgets to say an incident ended.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from bot.config import Config, EmailChannel
from bot.store import SourceState, Store

log = logging.getLogger("newsbot.desk.alerts")

OPEN = "alert.open."
SEEN_FAILING = "alert.failing-since."
STOPPED_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class AlertChange:
    key: str
    text: str
    started: bool  # False: the incident ended


def open_incidents(config: Config, store: Store, *, now: datetime) -> dict[str, str]:
    """Every incident that holds now: key → what to tell the editors."""
    from bot.channels.platform import month_start

    found: dict[str, str] = {}
    after = config.desk.source_alert_after
    # One read each for the states and the marks, and a write only where one changes: this
    # runs every few seconds on the event loop, for every source.
    states = store.source_states()
    marks = store.desk_values(SEEN_FAILING)
    for source in config.sources:
        state = states.get(source.id) or SourceState(source.id)
        seen_key = SEEN_FAILING + source.id
        if not state.consecutive_errors:
            if seen_key in marks:
                store.delete_desk_value(seen_key)
            continue
        since = state.last_success_at
        if since is None:  # never worked: count from when it was first seen failing
            seen = marks.get(seen_key)
            if not seen:
                store.set_desk_value(seen_key, now.isoformat(), now=now)
            since = datetime.fromisoformat(seen) if seen else now
        if now - since > after:
            found[f"source:{source.id}"] = (
                f"source {source.id} has been failing for over {_hours(now - since)}: "
                f"{state.last_error[:200]}")
    for name, channel in store.channel_states().items():
        if channel.attention and name in config.channels:
            found[f"attention:{name}"] = (f"channel {name} needs attention: "
                                          f"{channel.attention[:300]}")
    for name, cfg in config.channels.items():
        if isinstance(cfg, EmailChannel):
            budget = None
        else:
            from bot.channels.registry import platform_for

            budget = platform_for(cfg).budget(cfg)
        if budget is not None and budget.monthly:
            _, spent = store.spend_since(name, month_start(now, config.zone_for(name)))
            if spent >= budget.monthly * config.desk.x_spend_alert:
                found[f"spend:{name}"] = (
                    f"channel {name} has spent ${spent:.2f} of its ${budget.monthly:.2f} "
                    f"monthly budget ({100 * spent / budget.monthly:.0f}%)")
        if isinstance(cfg, EmailChannel):
            runs = store.digest_runs(name, limit=1)
            if runs and (runs[0].status == "failed" or (
                    runs[0].status == "sending" and now - runs[0].started_at > STOPPED_AFTER)):
                run = runs[0]
                what = "failed" if run.status == "failed" else "stopped while sending"
                why = f": {run.error[:200]}" if run.error else ""
                found[f"digest:{name}"] = (
                    f"digest {name} of {run.scheduled_for:%Y-%m-%d %H:%M} UTC {what} "
                    f"({run.sent_count} sent){why}")
    return found


def changes(config: Config, store: Store, *, now: datetime) -> list[AlertChange]:
    """The incidents that started or ended since the last look, recorded as told."""
    current = open_incidents(config, store, now=now)
    told = {k.removeprefix(OPEN): v for k, v in store.desk_values(OPEN).items()}
    result: list[AlertChange] = []
    for key, text in current.items():
        if key not in told:
            store.set_desk_value(OPEN + key, text, now=now)
            result.append(AlertChange(key, text, True))
    for key, text in told.items():
        if key not in current:
            store.delete_desk_value(OPEN + key)
            result.append(AlertChange(key, text, False))
    return result


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 2 else f"{span.total_seconds() / 60:.0f} minutes"


async def tell(config: Config, store: Store, say: Callable[[str], Awaitable[None]] | None, *,
               now: datetime) -> list[AlertChange]:
    """Tell the incidents that started or ended: to the control chat (``say`` posts one
    line of Telegram HTML there) and by email. One told nowhere is told again next time."""
    if say is None and not config.desk.alerts_email:
        return []
    told = changes(config, store, now=now)
    for change in told:
        delivered = False
        if say is not None:
            from bot.channels.telegram_html import escape

            head = "⚠️ <b>Alert</b>" if change.started else "✅ <b>Resolved</b>"
            try:
                await say(f"{head}: {escape(change.text)}")
                delivered = True
            except Exception as exc:
                log.warning("desk alert %s not sent to the control chat: %s", change.key, exc)
        if config.desk.alerts_email:
            delivered = await _email(config, change, now=now) or delivered
        if not delivered:  # undo the record, so the next round tells it
            if change.started:
                store.delete_desk_value(OPEN + change.key)
            else:
                store.set_desk_value(OPEN + change.key, change.text, now=now)
    return told


async def _email(config: Config, change: AlertChange, *, now: datetime) -> bool:
    from bot.digest.smtp import connect

    relay = next((c for c in config.channels.values()
                  if isinstance(c, EmailChannel) and c.smtp.host), None)
    if relay is None or config.desk.alerts_email is None:
        log.warning("desk.alerts_email: no email channel with an SMTP host to send through; "
                    "alert %s not emailed", change.key)
        return False
    msg = EmailMessage()
    msg["From"] = relay.from_
    msg["To"] = config.desk.alerts_email
    msg["Subject"] = ("newsbot alert: " if change.started else "newsbot resolved: ") + \
        change.text.splitlines()[0][:150]
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    msg["Message-ID"] = make_msgid(domain=parseaddr(relay.from_)[1].rpartition("@")[2] or None)
    msg.set_content(("Started: " if change.started else "Ended: ") + change.text + "\n")
    try:
        client = await connect(relay.smtp)
        try:
            await client.send_message(msg)
        finally:
            client.close()
    except Exception as exc:
        log.warning("desk alert %s not emailed to %s: %s", change.key,
                    config.desk.alerts_email, exc)
        return False
    return True
