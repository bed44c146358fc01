"""``python -m acg2vec.sample_site --port 8000``: serve the sample site for browsing or a rehearsal crawl.

Faults (every kind the sample site knows) make a rehearsal of a crawl against a misbehaving site:

    python -m acg2vec.sample_site --port 8000 --posts 300 \\
        --rate-limit 1 --server-errors 1 --truncated 1 --cut-bodies 1 --html-errors 1 --fault-every 2
    acg2vec crawl safebooru --base-url http://127.0.0.1:8000/safebooru --no-throttle

Each picked URL (one in ``--fault-every``, chosen by a hash of its path and query) fails its first requests in
this order: 429s, 5xx, truncated bodies, cut bodies, HTML pages with status 200; then it answers normally.
Image files are picked like pages, so a crawl also meets cut and HTML answers on its image URLs.
"""

from __future__ import annotations

import argparse
import logging

from acg2vec.sample_site.faults import FaultPlan
from acg2vec.sample_site.illustrations import contact_sheet
from acg2vec.sample_site.planted import CurationNoise, plant_noise, write_truth
from acg2vec.sample_site.server import SITES, SampleSite
from acg2vec.sample_site.world import generate_world

FAULT_OPTIONS = (
    # (option, FaultPlan field, help)
    ("--rate-limit", "rate_limit", "429 Too Many Requests answers (with Retry-After) before each picked URL answers."),
    ("--server-errors", "server_error", "5xx answers (503, 502, 500 in turn) before each picked URL answers."),
    (
        "--truncated",
        "truncated",
        "Answers cut short: Content-Length says more than is sent, then the connection closes (data loss).",
    ),
    (
        "--cut-bodies",
        "cut_json",
        "Answers whose body is cut in half with a matching Content-Length (valid HTTP, broken content: cut JSON, "
        "a cut image that fails its md5).",
    ),
    (
        "--html-errors",
        "html_error",
        "HTML maintenance pages with status 200 instead of the content (on API pages and image URLs alike).",
    ),
    ("--slow", "slow", "Answers delayed by --slow-seconds (not failures)."),
)


def fault_plan(args: argparse.Namespace) -> FaultPlan | None:
    """The FaultPlan the options ask for, or None when they ask for no fault."""
    counts = {field: getattr(args, field) for _, field, _ in FAULT_OPTIONS}
    if not any(counts.values()):
        return None
    return FaultPlan(
        **counts,
        retry_after=args.retry_after,
        slow_seconds=args.slow_seconds,
        every=args.fault_every,
        sites=tuple(args.fault_site or ()),
        paths=tuple(args.fault_path or ()),
    )


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    out = argparse.ArgumentParser(
        prog="python -m acg2vec.sample_site",
        description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out.add_argument("--host", default="127.0.0.1", help="Address to bind (default: 127.0.0.1).")
    out.add_argument("--port", type=non_negative, default=8000, help="Port (0 picks a free one).")
    out.add_argument("--seed", type=int, default=0, help="Seed of the generated world.")
    out.add_argument("--posts", type=positive, default=300, help="Number of booru posts.")
    out.add_argument("--max-offset", type=non_negative, default=200, help="Deepest booru pid * limit offset served.")
    faults = out.add_argument_group("faults", "How many times each picked URL fails, by kind (default 0: never).")
    for option, field, help_text in FAULT_OPTIONS:
        faults.add_argument(option, dest=field, type=non_negative, default=0, metavar="N", help=help_text)
    faults.add_argument("--slow-seconds", type=float, default=0.5, help="Delay of a --slow answer (default 0.5).")
    faults.add_argument(
        "--retry-after", type=non_negative, default=1, help="Seconds in the Retry-After of 429 and 503 (default 1)."
    )
    faults.add_argument(
        "--fault-every",
        type=positive,
        default=1,
        metavar="N",
        help="Pick one URL in N for the faults (default 1: all).",
    )
    faults.add_argument(
        "--fault-site",
        action="append",
        metavar="SITE",
        help="Only this site's URLs (safebooru, bangumi, wikipedia, moegirl, jikan, mal; repeatable).",
    )
    faults.add_argument(
        "--fault-path",
        action="append",
        metavar="TEXT",
        help="Only URLs containing TEXT, e.g. /images/ for image files or s=post for post pages (repeatable).",
    )
    out.add_argument(
        "--contact-sheet", metavar="PNG", help="Write a grid of the first 16 posts with their tags to PNG and exit."
    )
    noise = out.add_argument_group("curation noise", "Booru noise planted with its truth (default 0: none).")
    noise.add_argument("--missing-tags", type=rate, default=0.0, metavar="RATE", help="Drop each shown general tag.")
    noise.add_argument("--wrong-tags", type=rate, default=0.0, metavar="RATE", help="Add one unshown general tag.")
    noise.add_argument("--near-duplicates", type=rate, default=0.0, metavar="RATE", help="Re-upload posts, changed.")
    noise.add_argument("--truth", metavar="JSON", help="Write what was planted (the manifest of the noise) here.")
    return out


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.contact_sheet:
        world = generate_world(seed=args.seed, posts=args.posts)
        print(contact_sheet(world.posts[:16], args.contact_sheet))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    faults = fault_plan(args)
    noise = CurationNoise(args.missing_tags, args.wrong_tags, args.near_duplicates, seed=args.seed)
    world = None
    if noise.any:
        world, truth = plant_noise(generate_world(seed=args.seed, posts=args.posts), noise)
        if args.truth:
            write_truth(args.truth, truth)
    site = SampleSite(
        host=args.host, port=args.port, seed=args.seed, posts=args.posts, faults=faults, max_offset=args.max_offset,
        world=world,
    )  # fmt: skip
    site.start()
    for name in SITES:
        print(f"{name:14} {site.url_for(name)}", flush=True)
    if faults is not None:
        print(f"faults: {faults}", flush=True)
    print("Ctrl-C stops the server.", flush=True)
    site.serve_forever()


if __name__ == "__main__":
    main()
