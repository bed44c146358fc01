"""The generated embedding-like vectors: clustered, not noise; the intrinsic dimension asked for."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.indexes.synthetic import clustered_vectors, latent_clusters


@pytest.mark.unit
def test_clustered_vectors_are_clustered_not_noise():
    data = clustered_vectors(2_000, 64, n_clusters=10, seed=0)
    assert data.shape == (2_000, 64) and data.dtype == np.float32
    noise = np.random.default_rng(0).standard_normal(data.shape).astype(np.float32) * data.std()

    def nn_ratio(x: np.ndarray) -> float:
        d = ((x[:200, None, :] - x[None, :, :]) ** 2).sum(-1)
        d[np.arange(200), np.arange(200)] = np.inf
        return float(np.median(d.min(1)) / np.median(d[np.isfinite(d)]))

    # Nearest neighbours are far closer than typical pairs in clustered data; in noise they are not.
    assert nn_ratio(data) < 0.3 < nn_ratio(noise)


def test_latent_clusters_have_the_chosen_intrinsic_dimension():
    data = latent_clusters(3_000, 64, latent_dim=8, n_clusters=20, noise=0.01, seed=0)
    assert data.shape == (3_000, 64) and data.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data, axis=1), 1.0, rtol=1e-5)  # unit vectors
    centred = data - data.mean(0)
    energy = np.linalg.svd(centred, compute_uv=False) ** 2
    # 8 latent dimensions hold nearly all the variance; the 9th direction is the small noise.
    assert energy[:8].sum() / energy.sum() > 0.99 and energy[8] < 0.01 * energy[7]
    broad = latent_clusters(2_000, 32, latent_dim=16, n_clusters=10, spread=1.5, seed=1)
    tight = latent_clusters(2_000, 32, latent_dim=16, n_clusters=10, spread=0.2, seed=1)

    def neighbour_similarity(x: np.ndarray) -> float:
        sims = x[:200] @ x.T
        sims[np.arange(200), np.arange(200)] = -np.inf
        return float(np.median(sims.max(1)))

    # Broad clusters overlap: nearest neighbours are much less similar than in tight ones.
    assert neighbour_similarity(broad) < neighbour_similarity(tight) - 0.1
