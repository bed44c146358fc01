"""``python -m acg2vec.crawlers.sample_site --port 8000``: serve the sample site for browsing."""

from __future__ import annotations

import argparse
import logging

from acg2vec.crawlers.sample_site.faults import FaultPlan
from acg2vec.crawlers.sample_site.server import SITES, SampleSite


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m acg2vec.crawlers.sample_site", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8000, help="Port (0 picks a free one).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated world.")
    parser.add_argument("--posts", type=int, default=300, help="Number of booru posts.")
    parser.add_argument("--max-offset", type=int, default=200, help="Deepest booru pid * limit offset served.")
    parser.add_argument("--rate-limit", type=int, default=0, help="429 answers before each picked URL answers.")
    parser.add_argument("--server-errors", type=int, default=0, help="5xx answers before each picked URL answers.")
    parser.add_argument("--fault-every", type=int, default=1, help="Pick one URL in N for the faults above.")
    parser.add_argument(
        "--contact-sheet", metavar="PNG", help="Write a grid of the first 16 posts with their tags to PNG and exit."
    )
    args = parser.parse_args(argv)
    if args.contact_sheet:
        from acg2vec.crawlers.sample_site.illustrations import contact_sheet
        from acg2vec.crawlers.sample_site.world import generate_world

        world = generate_world(seed=args.seed, posts=args.posts)
        print(contact_sheet(world.posts[:16], args.contact_sheet))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    faults = None
    if args.rate_limit or args.server_errors:
        faults = FaultPlan(rate_limit=args.rate_limit, server_error=args.server_errors, every=args.fault_every)
    site = SampleSite(
        host=args.host, port=args.port, seed=args.seed, posts=args.posts, faults=faults, max_offset=args.max_offset
    )
    site.start()
    for name in SITES:
        print(f"{name:14} {site.url_for(name)}")
    print("Ctrl-C stops the server.")
    site.serve_forever()


if __name__ == "__main__":
    main()
