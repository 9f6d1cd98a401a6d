"""One module per desk screen; each gives ``routes(desk)``."""
