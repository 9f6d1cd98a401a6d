"""The email digest: collect the articles routed to an email channel, render one message,
send a copy to each active subscriber over a pool of reused SMTP connections.

- ``build``: which articles a run carries and how they are grouped (no I/O beyond the store);
- ``message``: the rendered body (once per run) and each recipient's MIME message;
- ``send``: the SMTP pool, per-recipient records, resume after a crash;
- ``tokens``: signed per-recipient links (unsubscribe, confirm);
- ``commands``: what the CLI and the scheduler call.
"""
