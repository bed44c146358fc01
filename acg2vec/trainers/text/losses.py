"""Loss registry: in-batch-negative contrastive losses for (anchor, positive) pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acg2vec.errors import UserError
from acg2vec.trainers.text.configs import LOSSES

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn


def make_loss(
    name: str,
    model: SentenceTransformer,
    *,
    mini_batch_size: int = 32,
    guide: SentenceTransformer | None = None,
    matryoshka_dims: tuple[int, ...] = (),
) -> nn.Module:
    """The loss called ``name`` (see ``LOSSES``), optionally wrapped in MatryoshkaLoss.

    - ``mnrl``: MultipleNegativesRankingLoss, every other positive in the batch is a negative.
    - ``cached-mnrl``: the same objective with gradient caching: the batch is embedded ``mini_batch_size`` rows at a
      time, so a batch of thousands (more negatives) fits in bounded memory.
    - ``symmetric-mnrl``: also ranks anchors given a positive (ja->zh and zh->ja alike); the default.
    - ``cached-symmetric-mnrl``: ``symmetric-mnrl`` with the gradient caching of ``cached-mnrl``.

    A third column (``negative``: mined look-alikes, see ``data.add_hard_negatives``) adds one more negative per row
    to every in-batch loss.
    - ``gist``: a guide model drops in-batch negatives it finds too similar to the anchor (likely false negatives).
    """
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl":
        loss = losses.MultipleNegativesRankingLoss(model)
    elif name == "cached-mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size)
    elif name == "cached-symmetric-mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(
            model,
            mini_batch_size=mini_batch_size,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
    elif name == "symmetric-mnrl":
        # One softmax per direction, averaged (sentence-transformers' replacement of the symmetric loss class).
        loss = losses.MultipleNegativesRankingLoss(
            model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        )
    elif name == "gist":
        if guide is None:
            raise UserError(
                "The gist loss needs a guide model: give --guide-model (a sentence-transformers folder or id)."
            )
        loss = losses.GISTEmbedLoss(model, guide=guide)
    else:
        raise UserError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
    if matryoshka_dims:
        full = model.get_embedding_dimension()
        dims = sorted(set(matryoshka_dims), reverse=True)
        if dims[0] > full or dims[-1] < 1:
            raise UserError(f"Matryoshka dimensions {dims} must lie between 1 and the model's {full} dimensions.")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims)
    return loss
