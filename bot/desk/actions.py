"""The editors' actions, as the desk and the control chat take them: the operations of
``bot.editor`` (the same ones ``newsbot hold/skip/…`` run), each recorded in the store with
who did it and when. Being row changes in the store, they hold on every worker at its next
dispatch tick; one that may let a post go sooner also calls ``wake`` (the desk's
``BotHooks.wake_dispatch``), so a dispatcher in this process asks the store at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot import editor
from bot.config import Config
from bot.desk.hooks import nothing
from bot.models import Delivery
from bot.store import Store


@dataclass(frozen=True)
class ActionResult:
    delivery: Delivery
    said: str  # one line for people: "approved", "held"…


_DELIVERY_ACTIONS: dict[str, tuple[Callable[..., Delivery], str]] = {
    "approve": (editor.approve, "approved"),
    "hold": (editor.hold, "held"),
    "release": (editor.release, "released"),
    "skip": (editor.skip, "skipped"),
    "post-now": (editor.post_now, "sent to post now"),
    "retry": (editor.retry, "queued again"),
}
DELIVERY_ACTIONS = tuple(_DELIVERY_ACTIONS)
#: The actions after which a post may go sooner than the dispatcher last knew (hold and
#: skip only ever make it later: nothing to wake for).
SOONER = frozenset({"approve", "release", "post-now", "retry"})


def buttons_for(delivery: Delivery) -> tuple[str, ...]:
    """The actions a waiting post offers, in the order editors use them (none when it is
    not waiting: sent, failed… are retried from the history)."""
    from bot.models import DeliveryStatus
    from bot.plan import APPROVAL_WINDOW_NOTE

    if delivery.status is DeliveryStatus.AWAITING:
        return ("approve", "hold", "post-now", "skip")
    if delivery.status is DeliveryStatus.HELD:
        return ("release", "post-now", "skip")
    if delivery.status is not DeliveryStatus.PENDING:
        return ()
    if delivery.note == APPROVAL_WINDOW_NOTE:  # goes by itself unless held
        return ("approve", "hold", "post-now", "skip")
    return ("hold", "post-now", "skip")


def act(store: Store, action: str, delivery_id: int, *, by: str, now: datetime,
        wake: Callable[[], None] = nothing) -> ActionResult:
    """Do ``action`` (approve, hold, release, skip, post-now, retry) on one delivery and
    record it. LookupError / ValueError say why it could not be done (nothing changes)."""
    if action not in _DELIVERY_ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(DELIVERY_ACTIONS)}")
    operation, said = _DELIVERY_ACTIONS[action]
    delivery = operation(store, delivery_id, now=now)
    store.record_action(by, action, now=now, delivery_id=delivery.id, channel=delivery.channel)
    if action in SOONER:
        wake()
    return ActionResult(delivery, said)


def edit(config: Config, store: Store, delivery_id: int, text: str, *, by: str,
         now: datetime) -> ActionResult:
    """Store an editor's text for one post (``editor.edit_text`` checks it first)."""
    delivery = editor.edit_text(config, store, delivery_id, text, now=now)
    store.record_action(by, "edit", now=now, delivery_id=delivery.id, channel=delivery.channel,
                        detail=delivery.edited_text or "(back to the template)")
    return ActionResult(delivery, "edited" if delivery.edited_text else "back to the template")


def reschedule(store: Store, delivery_id: int, due_at: datetime, *, by: str, now: datetime,
               wake: Callable[[], None] = nothing) -> ActionResult:
    delivery = editor.reschedule(store, delivery_id, due_at, now=now)
    store.record_action(by, "reschedule", now=now, delivery_id=delivery.id,
                        channel=delivery.channel, detail=due_at.isoformat())
    wake()  # moved earlier, perhaps to now
    return ActionResult(delivery, "rescheduled")


def pause(config: Config, store: Store, channel: str, *, paused: bool, by: str,
          now: datetime, wake: Callable[[], None] = nothing) -> None:
    (editor.pause if paused else editor.resume)(config, store, channel, now=now)
    store.record_action(by, "pause" if paused else "resume", now=now, channel=channel)
    if not paused:  # what queued meanwhile may go now
        wake()
