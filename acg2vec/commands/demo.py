"""``acg2vec demo``: every stage end to end on the bundled sample site."""

from __future__ import annotations

import typer

from acg2vec.commands.state import state, workspace
from acg2vec.demo import STAGE_GROUPS, DemoConfig, print_summary, run_demo

_DEFAULTS = DemoConfig()


def demo(
    posts: int = typer.Option(_DEFAULTS.posts, help="Booru posts on the sample site."),
    image_size: int = typer.Option(_DEFAULTS.image_size, help="Image size of the demo's dataset and taggers."),
    seed: int = typer.Option(0, help="Seed of the sample site's world and of the trainings."),
    until: str = typer.Option(
        "eval", help=f"Stop after this stage group: {', '.join(STAGE_GROUPS)} (e.g. 'build' for the datasets only)."
    ),
) -> None:
    """Start the sample site, crawl it, build both datasets, train, evaluate, write the report."""
    config = DemoConfig(seed=seed, posts=posts, image_size=image_size, until=until)
    run = run_demo(workspace(), config, quiet=state.quiet)
    print_summary(run)
