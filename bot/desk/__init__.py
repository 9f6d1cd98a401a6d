"""The editors' desk: a web dashboard at /desk and a Telegram control chat, both over the
same operations the command line runs (bot.editor), each action recorded with who and when.

- ``auth``: accounts' passwords, the session cookie, login limits, CSRF;
- ``site``: the frame every page shares (configuration, rendering, headers, the guard);
- ``screens/``: queue, post (previews and edits), plan, history, status, schedule, accounts;
- ``actions``: the editors' operations as the desk and the chat take them (recorded);
- ``previews``: what each channel would post, drawn as the reader sees it;
- ``schedule_file``: config.yaml's schedules edited in place (ruamel.yaml round trip);
- ``control_chat``: the Telegram control chat (approval buttons) and alerts.
"""
