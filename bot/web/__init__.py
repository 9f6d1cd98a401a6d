"""The readers' web pages: subscribe (double opt-in), confirm, unsubscribe (incl. RFC 8058)."""
