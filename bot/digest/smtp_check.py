"""The digest's side of ``check --online``: connect to the relay, STARTTLS (or TLS) and AUTH
as a digest run would, then QUIT without sending anything."""

from __future__ import annotations

import contextlib

import aiosmtplib

from bot.channels.online import OnlineCheck, ok, unreachable, wrong
from bot.config import Config, EmailChannel
from bot.digest.smtp import SmtpSecurityError, connect


async def check_online(name: str, cfg: EmailChannel, config: Config) -> OnlineCheck:
    smtp = cfg.smtp
    where = f"{smtp.host}:{smtp.port}"
    try:
        client = await connect(smtp)
    except SmtpSecurityError as exc:
        return wrong(name, f"SMTP {exc}")
    except aiosmtplib.SMTPAuthenticationError as exc:
        return wrong(name, f"SMTP {where} refused the login ({exc.code} {exc.message}); "
                     "check SMTP_USER and SMTP_PASSWORD")
    except aiosmtplib.SMTPResponseException as exc:
        return wrong(name, f"SMTP {where} answered {exc.code} {exc.message}; check smtp: "
                     "in config.yaml")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return unreachable(name, f"cannot connect to SMTP {where} ({exc}); check smtp.host, "
                           "smtp.port and the network")
    with contextlib.suppress(aiosmtplib.SMTPException):
        await client.quit()
    steps = {"starttls": "STARTTLS", "ssl": "TLS", "none": "no TLS"}[smtp.security]
    login = ", AUTH accepted" if smtp.username else ""
    return ok(name, f"ok: {where} answered ({steps}{login}); nothing was sent")
