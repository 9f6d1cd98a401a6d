"""What ``newsbot check`` says about the desk: where it is, whether it is on (and why not),
the control chat and the alerts address. Never a secret, only which variable is unset."""

from __future__ import annotations

from bot.config import Config


def describe_desk(config: Config) -> list[str]:
    desk = config.desk
    if not desk.enabled:
        return []
    key = config.secret_key.get_secret_value() if config.secret_key else ""
    where = f"{config.public_url.rstrip('/')}/desk/"
    state = "on" if len(key) >= 16 else "OFF until secret_key is set (16+ characters)"
    lines = [f"desk: {where}  [{state}]; accounts: newsbot editors add NAME"]
    if desk.telegram is not None:
        unset = [v for path, names in config.missing_env.items() if path.startswith("desk.")
                 for v in names]
        token = f"set {', '.join(unset)}" if unset or desk.telegram.token is None \
            else "token set"
        lines.append(f"  control chat: {desk.telegram.chat} [{token}]; "
                     f"{len(desk.editors)} editor id(s) may act")
    if desk.alerts_email:
        lines.append(f"  alerts by email to {desk.alerts_email}")
    return lines
