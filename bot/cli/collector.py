"""The cyclic garbage collector around a command: off while a quick command runs, and not
run again at its exit.

Starting ``newsbot status`` creates some 100,000 objects that live until the process ends
(classes, functions, pydantic schemas, SQLAlchemy constructs), most of them in reference
cycles. The collector runs every few hundred allocations and its full passes walk all of
them, finding nothing to free: about 50 ms of a 0.4 s command. At exit the interpreter
collects again while it unloads the modules: another 130 ms. A read-only view that prints and
exits within a second leaves no garbage worth that, so for those the collector stays off,
and ``gc.freeze()`` at exit takes the start-up objects out of the interpreter's last
collections (memory goes back to the system with the process). Every other command, which
may run for hours or work through thousands of feed items, turns the collector back on
before it starts; only its imports ran without it.
"""

from __future__ import annotations

import gc

#: Commands that read the store, print and exit: the collector stays off for them.
QUICK = frozenset({"status", "queue", "plan", "history"})


def pause() -> None:
    """Turn the collector off while the command line starts (``newsbot``'s entry point)."""
    gc.disable()


def resume_unless_quick(command: str | None) -> None:
    """Turn the collector back on, unless ``command`` is a quick one."""
    if command not in QUICK:
        gc.enable()


def skip_final_collections() -> None:
    """At exit, when the collector was left off: keep the interpreter's last collections
    from walking every object the process created (atexit handlers and flushing still run,
    and objects outside reference cycles are still freed)."""
    if not gc.isenabled():
        gc.freeze()
