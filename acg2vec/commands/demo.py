"""``acg2vec demo``: every stage end to end on the bundled sample site."""

from __future__ import annotations

import typer

from acg2vec.commands.options import apply_overrides
from acg2vec.commands.state import state, workspace
from acg2vec.demo import STAGE_GROUPS, DemoConfig, print_summary, run_demo

app = typer.Typer()


@app.command("demo", help="Run every stage end to end, offline, on the bundled sample site.")
def demo(
    posts: int = typer.Option(None, min=1, help="Booru posts on the sample site (default 1000)."),
    image_size: int = typer.Option(
        None, min=1, help="Image size of the demo's taggers (default: the demo configs', 128)."
    ),
    seed: int = typer.Option(None, help="Seed of the sample site's world and of the trainings (default 0)."),
    until: str = typer.Option(
        None, help=f"Stop after this stage group: {', '.join(STAGE_GROUPS)} (e.g. 'build' for the datasets only)."
    ),
) -> None:
    """Start the sample site, crawl it, build both datasets, train, evaluate, write the report."""
    config = apply_overrides(DemoConfig(), seed=seed, posts=posts, image_size=image_size, until=until)
    run = run_demo(workspace(), config, quiet=state.quiet)
    print_summary(run)
