"""Crawl throughput: items/s and CPU time per item of each spider against the sample site, throttling off.

    .venv/bin/python benchmarks/crawl_throughput.py                      # every spider, 300 posts
    .venv/bin/python benchmarks/crawl_throughput.py --spider bangumi --spider moegirl --posts 100

The sample site runs in its own process, so neither figure includes the server's work. For each spider:

1. the crawl, timed (after a first crawl that warms the site): the spider in its child process (Scrapy, pipelines, feeds; image files included for
   safebooru), throttling off, as ``acg2vec crawl <spider> --no-throttle`` runs it;
2. the baseline, measured in the same run: a plain sequential ``urllib`` client fetching exactly the URLs the
   crawl fetched (collected by a second crawl with Scrapy's HTTP cache on) and nothing else, no parsing.

It prints items/s of the crawl, the baseline's pages/s turned into items/s for the same items, their ratio
(how much of a bare download loop's speed the whole crawl keeps), and CPU milliseconds per item of both.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# Spider name -> (sample-site name, spider arguments for the sample site).
SPIDERS: dict[str, tuple[str, dict[str, str]]] = {
    "safebooru": ("safebooru", {"page_size": "100"}),
    "bangumi": ("bangumi", {}),
    "wikipedia": ("wikipedia/zh", {"lang": "zh"}),
    "moegirl": ("moegirl", {}),
    "animelist": ("jikan", {}),
}
_PREFIXES = {"safebooru": "/safebooru", "bangumi": "/bangumi", "wikipedia/zh": "/wikipedia/zh",
             "moegirl": "/moegirl", "jikan": "/jikan/v4"}  # fmt: skip


def start_site(posts: int) -> tuple[subprocess.Popen, str]:
    """The sample site in a child process on a free port; returns it and its root URL."""
    # The listen backlog of Python's HTTP server (5) drops connections when a crawl opens 16 at once, and each
    # dropped one waits out the download timeout; a real site's backlog is far deeper, so give the stand-in one.
    code = (
        "import sys; from acg2vec.sample_site import server; "
        "server._Server.request_queue_size = max(server._Server.request_queue_size, 128); "
        "from acg2vec.sample_site.__main__ import main; main(sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code, "--port", "0", "--posts", str(posts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        match = re.match(r"^safebooru\s+(http://[\d.:]+)/safebooru", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError("the sample site did not start")


def fetched_urls(cache_dir: Path) -> list[str]:
    """The URLs of the responses in a Scrapy filesystem HTTP cache (status 200 only)."""
    urls = []
    # Scrapy writes each entry's metadata twice: pickled, and as a Python literal in ``meta``; the literal is
    # read with ast.literal_eval, which evaluates no code.
    for meta in sorted(cache_dir.rglob("meta")):
        raw = meta.read_bytes()
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # HTTPCACHE_GZIP
        data = ast.literal_eval(raw.decode("utf-8"))
        if data.get("status") == 200:
            urls.append(data["url"])
    return urls


def baseline(urls: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of a sequential urllib client downloading ``urls``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for url in urls:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, root: str, extra_args: dict[str, str]) -> dict[str, float]:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.workspace import Workspace

    site_name, args = SPIDERS.get(name, (name, {}))
    base_url = root + _PREFIXES.get(site_name, "/" + site_name)
    args = {**args, **extra_args}
    with tempfile.TemporaryDirectory() as timed_dir, tempfile.TemporaryDirectory() as cache_run_dir:
        # The URL-collecting crawl goes first: it also warms the sample site's drawn images, so the timed crawl
        # and the baseline both meet a warm server.
        run_spider(name, workspace=Workspace.at(cache_run_dir), base_url=base_url, spider_args=args,
                   throttle=False, quiet=True, http_cache=True)  # fmt: skip
        urls = fetched_urls(Path(cache_run_dir, "cache", "http"))
        wall = time.perf_counter()
        report = run_spider(name, workspace=Workspace.at(timed_dir), base_url=base_url, spider_args=args,
                            throttle=False, quiet=True)  # fmt: skip
        wall = time.perf_counter() - wall
    items = max(report.items_written, 1)
    base_wall, base_cpu = baseline(urls)
    return {
        "items": report.items_written,
        "requests": report.requests,
        "crawl_s": report.elapsed_s,
        "process_s": wall,
        "items_per_s": report.items_written / max(report.elapsed_s, 1e-9),
        "cpu_ms_per_item": 1000 * report.cpu_s / items,
        "baseline_pages": len(urls),
        "baseline_s": base_wall,
        "baseline_items_per_s": report.items_written / max(base_wall, 1e-9),
        "baseline_cpu_ms_per_item": 1000 * base_cpu / items,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spider", action="append", help="Spider name (repeatable; default: every spider).")
    parser.add_argument("--posts", type=int, default=300, help="Posts in the sample world.")
    parser.add_argument("--arg", action="append", default=[], help="Extra spider argument key=value (repeatable).")
    parser.add_argument("--plot", type=Path, help="Also draw items/s of each crawl beside its baseline into this PNG.")
    options = parser.parse_args(argv)
    extra = dict(a.split("=", 1) for a in options.arg)
    site, root = start_site(options.posts)
    try:
        rows = {name: measure(name, root, extra) for name in options.spider or list(SPIDERS)}
    finally:
        site.terminate()
        site.wait(timeout=10)
    print(f"\ncrawl throughput against the sample site ({options.posts} posts), throttling off")
    header = f"{'spider':11} {'items':>6} {'reqs':>5} {'crawl s':>8} {'items/s':>8} {'base items/s':>12} "
    header += f"{'ratio':>6} {'cpu ms/item':>11} {'base cpu ms/item':>16}"
    print(header)
    for name, r in rows.items():
        ratio = r["items_per_s"] / r["baseline_items_per_s"] if r["baseline_items_per_s"] else float("nan")
        print(
            f"{name:11} {r['items']:>6} {r['requests']:>5} {r['crawl_s']:>8.2f} {r['items_per_s']:>8.1f} "
            f"{r['baseline_items_per_s']:>12.1f} {ratio:>6.2f} {r['cpu_ms_per_item']:>11.2f} "
            f"{r['baseline_cpu_ms_per_item']:>16.2f}"
        )
    print("ratio = crawl items/s / (same items at a bare sequential urllib client's download speed of the same URLs)")
    if options.plot:
        plot(rows, options.plot)
        print(f"plot: {options.plot}")


def plot(rows: dict[str, dict[str, float]], path: Path) -> None:
    """Items/s of each crawl beside its baseline, as a grouped bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(names) + 2), 3.8))
    ax.bar([x - 0.2 for x in xs], [rows[n]["items_per_s"] for n in names], width=0.4, label="crawl")
    ax.bar([x + 0.2 for x in xs], [rows[n]["baseline_items_per_s"] for n in names], width=0.4,
           label="baseline: bare urllib download of the same URLs")  # fmt: skip
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("items / s")
    ax.set_title("crawl throughput against the sample site, throttling off", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
