"""newsbot: syndicates a newsroom's articles to Telegram, X and an email digest."""

__version__ = "0.1.0"
