"""A local stand-in for the crawled sites, serving their real formats from one generated world.

Used by the demo and by the tests: ``start_sample_site()`` runs it on 127.0.0.1 in a background thread;
``python -m acg2vec.sample_site --port 8000`` serves it for browsing.
"""

from __future__ import annotations

from acg2vec.sample_site.faults import FAULT_KINDS, FaultPlan
from acg2vec.sample_site.server import SITES, SampleSite, start_sample_site
from acg2vec.sample_site.world import World, WorldConfig, generate_world

__all__ = [
    "FAULT_KINDS",
    "SITES",
    "FaultPlan",
    "SampleSite",
    "World",
    "WorldConfig",
    "generate_world",
    "start_sample_site",
]
