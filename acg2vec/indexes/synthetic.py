"""Embedding-like vectors generated from a seed, for measuring indexes where no real embeddings are at hand: the ANN
benchmark (``acg2vec eval ann``, ``benchmarks/ann.py``), the demo's index section and the index tests.

- :func:`clustered_vectors`: Zipf-sized clusters in a 48-d latent space (the easy case);
- :func:`latent_clusters`: broad Gaussian clusters in a 256-d latent space, unit length (neighbours spread over
  many IVF lists and product quantization loses more).
"""

from __future__ import annotations

import numpy as np


def clustered_vectors(
    n: int, dim: int, *, n_clusters: int | None = None, latent_dim: int = 48, noise: float = 0.05, seed: int = 0
) -> np.ndarray:
    """Embedding-like test data: Gaussian clusters in a low-dimensional latent space, mapped to ``dim`` dims.

    Real embeddings have far fewer effective dimensions than coordinates and gather into topics of very unequal
    size (a few popular tags, a long tail); uniform noise has none of this. Cluster sizes follow Zipf's law, so
    big clusters spread over many IVF lists, as popular topics do. Generated in float32 chunks.
    """
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(8, int(np.sqrt(n)))
    latent_dim = min(latent_dim, dim)
    projection = rng.standard_normal((latent_dim, dim), dtype=np.float32) / np.sqrt(latent_dim)
    centres = rng.standard_normal((n_clusters, latent_dim), dtype=np.float32)
    spreads = rng.uniform(0.3, 1.0, size=n_clusters).astype(np.float32)
    weights = 1.0 / np.arange(1, n_clusters + 1)
    weights /= weights.sum()
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.choice(n_clusters, size=m, p=weights)
        latent = centres[which] + rng.standard_normal((m, latent_dim), dtype=np.float32) * spreads[which, None]
        out[start : start + m] = latent @ projection
        out[start : start + m] += rng.standard_normal((m, dim), dtype=np.float32) * noise
    return out


def latent_clusters(
    n: int,
    dim: int,
    *,
    latent_dim: int = 256,
    n_clusters: int = 2_000,
    spread: float = 0.75,
    noise: float = 0.1,
    unit: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Harder embedding-like data: broad Gaussian clusters in a ``latent_dim``-d space, randomly projected to ``dim``.

    ``latent_dim`` is the intrinsic dimension and ``spread`` the within-cluster standard deviation relative to that
    of the cluster centres (each cluster draws its own from 0.5x to 1.5x ``spread``): at 256 latent dimensions and
    a spread near 1 the clusters overlap, neighbours lie in many IVF lists, and product quantization loses far more
    than on :func:`clustered_vectors`' 48-d data. Isotropic ``noise`` is added in the full space; with ``unit`` the
    rows are scaled to unit length (cosine similarity = inner product, as the acg2vec encoders are used).
    """
    rng = np.random.default_rng(seed)
    latent_dim = min(latent_dim, dim)
    projection = rng.standard_normal((latent_dim, dim), dtype=np.float32) / np.sqrt(latent_dim)
    centres = rng.standard_normal((n_clusters, latent_dim), dtype=np.float32)
    spreads = (spread * rng.uniform(0.5, 1.5, size=n_clusters)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, n_clusters, size=m)
        latent = centres[which] + rng.standard_normal((m, latent_dim), dtype=np.float32) * spreads[which, None]
        block = latent @ projection
        block += rng.standard_normal((m, dim), dtype=np.float32) * noise
        if unit:
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[start : start + m] = block
    return out
