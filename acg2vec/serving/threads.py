"""How the served models' thread pools wait between calls.

torch (and MKL inside it) runs its intra-op work on OpenMP threads, and GNU OpenMP's default is to keep those
threads spinning on a core for a while after each parallel region, ready for the next one. That suits one long
training loop on an idle machine; a server is the opposite case: small micro-batches a few milliseconds apart,
an event loop, the clients and often other jobs wanting the same cores. There the spinning threads take the CPU
the event loop needs, and when a core is busy elsewhere, a thread spinning at a barrier waits for a partner that
is not even running: measured on the demo's acgvoc2vec on 2 busy cores, one short text took 93 ms with the
default and 1.5 ms with passive waits, and work search served 46 requests/s instead of 277.

OpenMP reads its wait policy once, when the library loads, so :func:`prefer_passive_waits` must run before
torch is imported; ``acg2vec serve`` calls it first thing. A policy the user set is kept.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waits(environ: MutableMapping[str, str] | None = None) -> str:
    """Make OpenMP worker threads sleep between parallel regions unless the user chose otherwise; returns the
    policy in force. Logs a warning when torch is already loaded (the setting then comes too late)."""
    environ = os.environ if environ is None else environ
    policy = environ.setdefault(WAIT_POLICY, "PASSIVE")
    if "torch" in sys.modules:
        log.warning("torch was loaded before %s=%s was set; its OpenMP threads keep their default waits.",
                    WAIT_POLICY, policy)  # fmt: skip
    return policy
