"""The cyclic garbage collector around a command: off while a quick command runs, and not
run again when a command that has finished exits.

Starting ``newsbot status`` creates some 65,000 objects that live until the process ends
(classes, functions, pydantic schemas, SQLAlchemy constructs), most of them in reference
cycles. The collector runs every few hundred allocations and its passes walk them, finding
nothing to free: about 50 ms of the command. At exit the interpreter collects again while it
unloads the modules, walking every object once more: 130 ms after ``status``, 175 ms after a
small ``newsbot once``. So:

- a read-only view (``QUICK``) prints and exits within a second and leaves no garbage worth
  collecting: the collector stays off for it. Every other command turns it back on before
  it starts (``once`` works through thousands of feed items, ``run`` for weeks), ``once``
  only when its start-up is done (``SETTLES``, below);
- ``once``, the one command that does its work in one go right after start-up, freezes
  what start-up made (``settle``) once config.yaml is read, and only then turns the
  collector on: the passes while it imported click, asyncio and pydantic, built the config
  models and read the file walked tens of thousands of objects that all live until exit
  (66 of a warm cycle's 86 passes; its time in the collector went from 15-22 ms to 6-7
  ms). What they would have freed, some 650 objects in cycles, is frozen with the rest.
  The passes while it polls walk only the cycle's own objects: a warm cycle (200 feeds,
  all 304) ran a full pass over everything start-up made (40-100 ms on a busy machine) and
  now none, about 0.03 s less CPU. It also collects less often (``CYCLE_THRESHOLDS``): a
  cycle's feed items, rows and responses are freed by reference counting as each feed is
  done, so the collector's passes (every 700 allocations by default) found little but cost
  a cold 200-feed cycle 0.14 s, 0.06 s this way, at the same peak memory. ``run`` keeps its
  collector as it was (it starts once in weeks);
- at exit, ``gc.freeze()`` takes what is still alive out of the interpreter's last
  collections, for every command but the services (``run``, ``serve``), whose exit keeps the
  full clean-up. atexit handlers (logging's flush, child processes' clean-up) still run and
  objects outside reference cycles are still freed; the commands close their store, files
  and connections themselves, so nothing waits on a collection to be flushed or closed.
"""

from __future__ import annotations

import gc

#: Commands that read the store, print and exit: the collector stays off for them.
QUICK = frozenset({"status", "queue", "plan", "history"})
#: Commands that turn the collector on only once started (``settle``), not when known.
SETTLES = frozenset({"once"})
#: Commands that serve until stopped: their exit keeps the interpreter's full clean-up.
SERVICES = frozenset({"run", "serve"})

#: The collector's thresholds while ``once`` works (Python's defaults: 700, 10, 10).
CYCLE_THRESHOLDS = (10_000, 20, 10)

_freeze_at_exit = True


def pause() -> None:
    """Turn the collector off while the command line starts (``newsbot``'s entry point)."""
    gc.disable()


def resume_unless_quick(command: str | None) -> None:
    """Turn the collector back on, unless ``command`` is a quick one or turns it on itself
    when its start-up is done (``settle``)."""
    global _freeze_at_exit
    if command not in QUICK and command not in SETTLES:
        gc.enable()
    _freeze_at_exit = command not in SERVICES


def settle() -> None:
    """Once a command has started (its modules imported, config.yaml read): what start-up
    made lives until exit, so the collector's passes during the work leave it out
    (``gc.freeze``) and walk only what the work allocates, less often than by default.
    Turns the collector on (``once`` starts without it: ``SETTLES``)."""
    gc.freeze()
    gc.set_threshold(*CYCLE_THRESHOLDS)
    gc.enable()


def skip_final_collections() -> None:
    """At the exit of a command that has finished (not a service): keep the interpreter's
    last collections from walking every object the process created."""
    if _freeze_at_exit:
        gc.freeze()
