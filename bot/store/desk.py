"""The desk's store operations: editors' accounts, the actions log, failed logins, the
control chat's messages and small named values. All of it lives in the store, so a session
ended, a login limit reached or an action taken holds on every worker at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.models import Delivery
from bot.store import desk_schema as T
from bot.store.base import StoreBase

ROLES = ("editor", "admin")


@dataclass(frozen=True)
class EditorAccount:
    """An editor's account. The password hash never leaves the store module's callers that
    verify it (bot.desk.auth)."""

    id: int
    name: str
    role: str  # editor | admin
    session_version: int
    password_hash: str
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class DeskAction:
    """One thing an editor did, from the desk, the control chat or the command line."""

    id: int
    at: datetime
    editor: str
    action: str
    delivery_id: int | None
    channel: str
    detail: str


@dataclass(frozen=True)
class ControlMessage:
    delivery_id: int
    chat: str
    message_id: int
    closed: bool


def _account(row: Any) -> EditorAccount:
    return EditorAccount(row.id, row.name, row.role, row.session_version, row.password_hash,
                         row.created_at)


class DeskQueries(StoreBase):
    # -- accounts -----------------------------------------------------------------------------

    def add_editor(self, name: str, password_hash: str, role: str, *, now: datetime
                   ) -> EditorAccount:
        """Create an account; ValueError when the name is taken or the role unknown."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            with self.transaction() as conn:
                conn.execute(insert(T.editors).values(
                    name=name, password_hash=password_hash, role=role, session_version=1,
                    created_at=now, updated_at=now))
        except IntegrityError:
            raise ValueError(f"an editor named {name!r} exists already; use `newsbot "
                             "editors passwd` to change the password") from None
        account = self.get_editor(name)
        assert account is not None
        return account

    def get_editor(self, name: str) -> EditorAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T.editors).where(T.editors.c.name == name)).first()
        return _account(row) if row else None

    def get_editor_by_id(self, editor_id: int) -> EditorAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T.editors).where(T.editors.c.id == editor_id)).first()
        return _account(row) if row else None

    def list_editors(self) -> list[EditorAccount]:
        with self.engine.connect() as conn:
            return [_account(r) for r in conn.execute(select(T.editors).order_by(T.editors.c.name))]

    def remove_editor(self, name: str) -> bool:
        with self.transaction() as conn:
            return bool(conn.execute(delete(T.editors).where(T.editors.c.name == name)).rowcount)

    def set_editor_password(self, name: str, password_hash: str, *, now: datetime) -> bool:
        """New password hash; every session of the account ends (its version moves on)."""
        with self.transaction() as conn:
            return bool(conn.execute(update(T.editors).where(T.editors.c.name == name).values(
                password_hash=password_hash, updated_at=now,
                session_version=T.editors.c.session_version + 1)).rowcount)

    def rehash_editor_password(self, editor_id: int, password_hash: str, *, now: datetime
                               ) -> None:
        """Same password, stronger parameters: sessions stay."""
        with self.transaction() as conn:
            conn.execute(update(T.editors).where(T.editors.c.id == editor_id).values(
                password_hash=password_hash, updated_at=now))

    def end_sessions(self, editor_id: int, *, now: datetime) -> None:
        """Log out everywhere: every cookie carrying the old version stops working."""
        with self.transaction() as conn:
            conn.execute(update(T.editors).where(T.editors.c.id == editor_id).values(
                session_version=T.editors.c.session_version + 1, updated_at=now))

    # -- failed logins --------------------------------------------------------------------------

    def record_login_failure(self, keys: list[str], *, now: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(insert(T.login_failures), [{"key": k, "at": now} for k in keys])
            # Keep the table small: nothing older than a day is ever counted.
            conn.execute(delete(T.login_failures).where(
                T.login_failures.c.at < now - timedelta(days=1)))

    def login_failures(self, key: str, *, since: datetime) -> list[datetime]:
        """When ``key`` failed since ``since``, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(
                select(T.login_failures.c.at).where(T.login_failures.c.key == key,
                                                    T.login_failures.c.at >= since)
                .order_by(T.login_failures.c.at)).scalars())

    def clear_login_failures(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute(delete(T.login_failures).where(T.login_failures.c.key == key))

    # -- the actions log --------------------------------------------------------------------

    def record_action(self, editor: str, action: str, *, now: datetime,
                      delivery_id: int | None = None, channel: str = "",
                      detail: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(insert(T.desk_actions).values(
                at=now, editor=editor, action=action, delivery_id=delivery_id,
                channel=channel, detail=detail[:2000]))

    def actions(self, *, delivery_id: int | None = None, limit: int = 50) -> list[DeskAction]:
        query = select(T.desk_actions).order_by(T.desk_actions.c.at.desc(),
                                                T.desk_actions.c.id.desc()).limit(limit)
        if delivery_id is not None:
            query = query.where(T.desk_actions.c.delivery_id == delivery_id)
        with self.engine.connect() as conn:
            return [DeskAction(r.id, r.at, r.editor, r.action, r.delivery_id, r.channel,
                               r.detail) for r in conn.execute(query)]

    # -- the control chat ---------------------------------------------------------------------

    def control_message(self, delivery_id: int) -> ControlMessage | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(T.desk_messages).where(
                T.desk_messages.c.delivery_id == delivery_id)).first()
        return ControlMessage(r.delivery_id, r.chat, r.message_id, bool(r.closed)) if r else None

    def claim_control_message(self, delivery_id: int, chat: str, *, now: datetime) -> bool:
        """Reserve the right to post this delivery to the control chat (once, ever).
        False when it was posted (or is being posted) already."""
        try:
            with self.transaction() as conn:
                conn.execute(insert(T.desk_messages).values(
                    delivery_id=delivery_id, chat=chat, message_id=0, created_at=now,
                    closed=0))
        except IntegrityError:
            return False
        return True

    def set_control_message(self, delivery_id: int, *, message_id: int | None = None,
                            closed: bool | None = None) -> None:
        values: dict[str, object] = {}
        if message_id is not None:
            values["message_id"] = message_id
        if closed is not None:
            values["closed"] = int(closed)
        with self.transaction() as conn:
            conn.execute(update(T.desk_messages).where(
                T.desk_messages.c.delivery_id == delivery_id).values(**values))

    def forget_control_message(self, delivery_id: int) -> None:
        with self.transaction() as conn:
            conn.execute(delete(T.desk_messages).where(
                T.desk_messages.c.delivery_id == delivery_id))

    def open_control_messages(self) -> list[ControlMessage]:
        with self.engine.connect() as conn:
            return [ControlMessage(r.delivery_id, r.chat, r.message_id, bool(r.closed))
                    for r in conn.execute(select(T.desk_messages).where(
                        T.desk_messages.c.closed == 0, T.desk_messages.c.message_id > 0))]

    # -- named values -----------------------------------------------------------------------

    def desk_value(self, name: str, default: str = "") -> str:
        with self.engine.connect() as conn:
            value = conn.execute(select(T.desk_values.c.value).where(
                T.desk_values.c.name == name)).scalar()
        return default if value is None else str(value)

    def set_desk_value(self, name: str, value: str, *, now: datetime) -> None:
        with self.transaction() as conn:
            done = conn.execute(update(T.desk_values).where(T.desk_values.c.name == name)
                                .values(value=value, updated_at=now)).rowcount
            if not done:
                conn.execute(insert(T.desk_values).values(name=name, value=value,
                                                          updated_at=now))

    def desk_values(self, prefix: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.name: r.value for r in conn.execute(select(T.desk_values).where(
                T.desk_values.c.name.startswith(prefix)))}

    def delete_desk_value(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute(delete(T.desk_values).where(T.desk_values.c.name == name))

    # -- deliveries --------------------------------------------------------------------------

    def set_edited_text(self, delivery_id: int, text: str, *, now: datetime,
                        statuses: tuple[str, ...]) -> bool:
        """Store an editor's text on a delivery still in one of ``statuses``."""
        from bot.store.schema import deliveries as D

        with self.transaction() as conn:
            return bool(conn.execute(update(D).where(
                D.c.id == delivery_id, D.c.status.in_(statuses)).values(
                edited_text=text, updated_at=now)).rowcount)

    def deliveries_of_article(self, article_id: int) -> list[Delivery]:
        from bot.store.outbox import row_to_delivery
        from bot.store.schema import deliveries as D

        with self.engine.connect() as conn:
            return [row_to_delivery(r) for r in conn.execute(
                select(D).where(D.c.article_id == article_id).order_by(D.c.channel))]

    def history_page(self, *, statuses: tuple[str, ...], channel: str | None,
                     since: datetime | None, until: datetime | None,
                     limit: int = 200) -> list[Delivery]:
        """Finished deliveries, newest first, by channel and (UTC) time range."""
        from bot.store.outbox import row_to_delivery
        from bot.store.schema import deliveries as D

        when = func.coalesce(D.c.sent_at, D.c.updated_at)
        query = select(D).where(D.c.status.in_(statuses))
        if channel:
            query = query.where(D.c.channel == channel)
        if since is not None:
            query = query.where(when >= since)
        if until is not None:
            query = query.where(when < until)
        query = query.order_by(when.desc(), D.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [row_to_delivery(r) for r in conn.execute(query)]

    def count_editors(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(T.editors)).scalar() or 0)
