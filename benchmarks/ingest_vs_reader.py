"""newsbot's ingest against lemon24/reader's on the same feeds, from a local HTTP server.

N feeds × M items are served from a separate process (an asyncio server with a listen
backlog of 256, so 16 concurrent clients are never refused). Then, alternately, 3 pairs each:

- newsbot: ``newsbot once`` as a whole process, on a generated config (no channels,
  ``fetch.per_host: 16``, no page fetches) and a fresh SQLite store;
- reader: ``update_feeds(workers=16)`` as a whole process, on a fresh reader database whose
  feeds were added beforehand (not timed);

cold (a fresh store: every item new), then warm (the same stores again: every feed answers
304 Not Modified). It prints the medians, each pair's ratio, each side's peak memory, and the
download-only floor: the same feeds fetched with 16 connections and nothing else, timed in
this process and as a whole process of its own (as newsbot and reader are timed).

    .venv/bin/pip install -e '.[bench]'     # reader==3.26
    .venv/bin/python benchmarks/ingest_vs_reader.py --feeds 200 --items 50
    .venv/bin/python benchmarks/ingest_vs_reader.py --feeds 1000 --items 20

Both sides run with a bytecode cache in a throwaway folder (as installed packages do), after
one untimed warm-up run each. It installs nothing itself; without reader it says how to
install it and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from download_only import download_all

ROOT = Path(__file__).resolve().parent.parent
PAIRS = 3


def render_feed(feed: int, items: int, now: datetime) -> bytes:
    parts = []
    for n in range(items):
        key = f"f{feed}-i{n}"
        parts.append(
            f"<item><title>Article {key} about the regional economy</title>"
            f"<link>https://news.example.org/{key}?utm_source=rss</link>"
            f"<guid>{key}</guid><category>Economy</category>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate>"
            "<description>&lt;p&gt;Ministers met on Tuesday to discuss the budget, "
            "the second such meeting this month, officials said.&lt;/p&gt;</description>"
            "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>https://news.example.org/</link>"
            f"{''.join(parts)}</channel></rss>").encode()


def serve(feeds: int, items: int, port_out: multiprocessing.Queue[int]) -> None:  # type: ignore[type-arg]
    """An asyncio HTTP/1.1 server with every response prepared up front: one thread, no GIL
    hand-offs, so the server is never what the clients wait for (http.server's threads
    were: 16 concurrent clients got their feeds slower than one)."""
    now = datetime.now(UTC)
    full: list[bytes] = []
    not_modified: list[bytes] = []
    etags: list[bytes] = []
    for i in range(feeds):
        body = render_feed(i, items, now)
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'.encode()
        etags.append(etag)
        full.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                    b"ETag: " + etag + b"\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\n\r\n" + body)
        not_modified.append(b"HTTP/1.1 304 Not Modified\r\nETag: " + etag
                            + b"\r\nContent-Length: 0\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                index = int(path.rsplit(b"/", 1)[-1].split(b".")[0])
                matched = b"if-none-match: " + etags[index] in head.lower()
                writer.write(not_modified[index] if matched else full[index])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def run() -> None:
        # backlog 256: 16 clients connecting at once are never refused
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
        port_out.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(run())


@dataclass
class Run:
    seconds: float  # wall time
    cpu: float  # user + system CPU seconds: steadier than wall time on a busy machine
    peak_mib: float


def child_env() -> dict[str, str]:
    """Both sides run with a bytecode cache, as installed packages do (pip compiles their .pyc
    files): under PYTHONDONTWRITEBYTECODE=1 a checkout would compile each of its modules again
    at every start, and reader (from site-packages) would not. The cache lives in a throwaway
    folder (PYTHONPYCACHEPREFIX), so the checkout stays clean."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": _PYCACHE}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


_PYCACHE = tempfile.mkdtemp(prefix="newsbot-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)


def warm_up(tmp: Path, port: int) -> None:
    """One untimed run of each side on two feeds: fills the bytecode cache (and the disk
    cache), so the first timed pair measures ingest, not the compiler."""
    folder = tmp / "warm-up"
    folder.mkdir()
    newsbot_config(folder, port, 2)
    subprocess.run([sys.executable, "-c", READER_ADD, str(folder / "reader.sqlite"), str(port),
                    "2"], check=True, env=child_env())
    newsbot_run(folder)
    reader_run(folder)


def run_process(argv: list[str], cwd: Path) -> Run:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env())
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = (proc.stdout.read() if proc.stdout else b"") + (proc.stderr.read() if proc.stderr
                                                          else b"")
    if proc.returncode not in (0,):
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}):\n{out.decode()[-3000:]}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def newsbot_config(folder: Path, port: int, feeds: int) -> Path:
    sources = "\n".join(
        f"  - {{id: f{i}, url: 'http://127.0.0.1:{port}/feed/{i}.xml', fetch_pages: never}}"
        for i in range(feeds))
    path = folder / "config.yaml"
    path.write_text(f"store: sqlite:///{folder / 'newsbot.db'}\nbackfill: 3650d\n"
                    f"fetch: {{per_host: 16}}\nweb: {{enabled: false}}\n"
                    f"sources:\n{sources}\nchannels: {{}}\n")
    return path


READER_ADD = """
import sys
from reader import make_reader
r = make_reader(sys.argv[1])
for i in range(int(sys.argv[3])):
    r.add_feed(f"http://127.0.0.1:{sys.argv[2]}/feed/{i}.xml")
r.close()
"""
READER_UPDATE = """
import sys
from reader import make_reader
r = make_reader(sys.argv[1])
r.update_feeds(workers=16, scheduled=False)
r.close()
"""


def newsbot_run(folder: Path) -> Run:
    newsbot = Path(sys.executable).with_name("newsbot")
    return run_process([str(newsbot), "--config", str(folder / "config.yaml"), "once"], folder)


def reader_run(folder: Path) -> Run:
    return run_process([sys.executable, "-c", READER_UPDATE, str(folder / "reader.sqlite")],
                       folder)


def download_floor(port: int, feeds: int) -> float:
    best = []
    for _ in range(PAIRS):
        started = time.perf_counter()
        asyncio.run(download_all(port, feeds))
        best.append(time.perf_counter() - started)
    return statistics.median(best)


def download_floor_process(port: int, feeds: int) -> float:
    """The same downloads as a whole process, measured as the two contenders are: the
    interpreter's start and httpx's import included (each side pays its own)."""
    script = Path(__file__).with_name("download_only.py")
    runs = [run_process([sys.executable, str(script), str(port), str(feeds)], ROOT).seconds
            for _ in range(PAIRS)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=PAIRS)
    args = parser.parse_args()
    try:
        import reader
    except ImportError:
        raise SystemExit("reader is not installed: .venv/bin/pip install -e '.[bench]' "
                         "(or pip install 'reader==3.26')") from None

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.feeds, args.items, ports),
                                     daemon=True)
    server.start()
    port = ports.get(timeout=60)
    print(f"{args.feeds} feeds × {args.items} items = {args.feeds * args.items:,} items; "
          f"reader {reader.__version__}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; {args.pairs} pairs, whole processes")
    floor = download_floor(port, args.feeds)
    floor_process = download_floor_process(port, args.feeds)

    results: dict[str, dict[str, list[Run]]] = {
        phase: {"newsbot": [], "reader": []} for phase in ("cold", "warm")}
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp), port)
        for pair in range(args.pairs):
            folder = Path(tmp) / f"pair{pair}"
            folder.mkdir()
            newsbot_config(folder, port, args.feeds)
            subprocess.run([sys.executable, "-c", READER_ADD, str(folder / "reader.sqlite"),
                            str(port), str(args.feeds)], check=True, env=child_env())
            for phase in ("cold", "warm"):
                # alternate who goes first, so neither always runs on a warmer machine
                order = [("newsbot", newsbot_run), ("reader", reader_run)]
                if pair % 2:
                    order.reverse()
                for name, run in order:
                    results[phase][name].append(run(folder))

    server.terminate()
    print(f"\ndownload-only floor (16 connections, no parsing): {floor:.2f} s in-process, "
          f"{floor_process:.2f} s as a whole process (Python's start and httpx's import too)")
    for phase in ("cold", "warm"):
        ours, theirs = results[phase]["newsbot"], results[phase]["reader"]
        ratios = [a.seconds / b.seconds for a, b in zip(ours, theirs, strict=True)]
        median_ours = statistics.median(r.seconds for r in ours)
        print(f"\n{phase} ({'every item new' if phase == 'cold' else 'every feed 304'}):")
        for name, runs in (("newsbot", ours), ("reader", theirs)):
            print(f"  {name:<8} median {statistics.median(r.seconds for r in runs):6.2f} s"
                  "   runs " + "  ".join(f"{r.seconds:.2f}" for r in runs)
                  + f"   CPU median {statistics.median(r.cpu for r in runs):.2f} s"
                  + f"   peak {max(r.peak_mib for r in runs):.0f} MiB")
        cpu_ratio = (statistics.median(r.cpu for r in ours)
                     / statistics.median(r.cpu for r in theirs))
        print(f"  newsbot ÷ reader per pair: {'  '.join(f'{x:.2f}' for x in ratios)}   "
              f"median {statistics.median(ratios):.2f}   (CPU: {cpu_ratio:.2f})")
        if phase == "cold":
            print(f"  newsbot ÷ download floor: {median_ours / floor:.2f} in-process, "
                  f"{median_ours / floor_process:.2f} against the whole process")


if __name__ == "__main__":
    main()
