"""Per-channel state an editor or a platform can set (pause, needs attention), and leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from bot.store import schema
from bot.store.base import StoreBase
from bot.store.driver import run
from bot.store.records import ChannelState
from bot.store.status_sql import CHANNEL_STATES_SQL, read_channel_state

C = schema.channel_state


class ChannelQueries(StoreBase):
    def channel_state(self, channel: str) -> ChannelState:
        with self.engine.connect() as conn:
            row = conn.execute(select(C).where(C.c.channel == channel)).first()
        if row is None:
            return ChannelState(channel)
        return ChannelState(channel, bool(row.paused), row.attention, row.chat_override)

    def channel_states(self) -> dict[str, ChannelState]:
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            states = (read_channel_state(row) for row in run(conn, CHANNEL_STATES_SQL, ()))
            return {state.channel: state for state in states}

    def update_channel(self, channel: str, *, now: datetime, **values: object) -> None:
        """Set paused / attention / chat_override for a channel (creating its row)."""
        self.ensure_channel_row(channel, now)
        with self.transaction() as conn:
            conn.execute(update(C).where(C.c.channel == channel).values(updated_at=now, **values))

    def ensure_channel_row(self, channel: str, now: datetime) -> None:  # pragma: no cover
        raise NotImplementedError  # provided by OutboxQueries

    # -- leases: one holder at a time for polling and digests ---------------------

    def acquire_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Take or renew the lease ``name``; False while another holder's lease is live."""
        with self.transaction() as conn:
            row = conn.execute(select(schema.leases).where(schema.leases.c.name == name)
                               .with_for_update()).first()
            if row is None:
                conn.execute(schema.leases.insert().values(name=name, holder=holder,
                                                           expires_at=until))
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            conn.execute(update(schema.leases).where(schema.leases.c.name == name)
                         .values(holder=holder, expires_at=until))
            return True

    def release_lease(self, name: str, holder: str | None) -> None:
        """Give up the lease ``name`` if ``holder`` has it (None: whoever has it, for a
        SQLite store whose run lock proves the holder dead)."""
        cond = [schema.leases.c.name == name]
        if holder is not None:
            cond.append(schema.leases.c.holder == holder)
        with self.transaction() as conn:
            conn.execute(delete(schema.leases).where(*cond))
