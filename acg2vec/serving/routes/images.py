"""Image routes: tags and the illust2vec vector of an upload, similar illustrations, posts of the index."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from acg2vec.serving.requests import IMAGE_BODY, at_most, limit_query, read_image
from acg2vec.serving.services import Services
from acg2vec.serving.state import ServingState, needs, serving_state
from acg2vec.serving.uploads import BadInput
from acg2vec.vocabularies import RATINGS

router = APIRouter(tags=["images"])

MAX_TOP_K_TAGS = 1_000


def select_tags(
    probs: np.ndarray,
    *,
    cut: float | np.ndarray | None,
    categories: np.ndarray,
    wanted: list[str] | None,
    top_k: int | None,
) -> np.ndarray:
    """Indices of the tags to answer, best first: of the ``wanted`` categories (all when none), scoring at
    least ``cut`` (a threshold or one per tag; None keeps every tag), at most ``top_k``. Vectorised, since real
    taggers have ten thousand tags and this runs on the event loop for every request."""
    keep = np.isin(categories, wanted) if wanted else np.ones(len(probs), bool)
    if cut is not None:
        keep &= probs >= cut
    index = np.flatnonzero(keep)
    index = index[np.argsort(-probs[index], kind="stable")]
    return index[:top_k] if top_k else index


@router.post("/v1/tags", summary="Tags of an uploaded image", openapi_extra=IMAGE_BODY)
async def tags(
    request: Request,
    threshold: float | None = Query(None, ge=0.0, le=1.0, description="Keep tags scoring at least this."),
    top_k: int | None = Query(None, ge=1, le=MAX_TOP_K_TAGS, description="Keep the K best tags."),
    category: list[str] | None = Query(None, description="Only these categories (general, character, ...)."),
    current: Services = Depends(needs("tagger")),
    state: ServingState = Depends(serving_state),
) -> dict:
    """Tags above the model's tuned thresholds (or ``threshold``), or the ``top_k`` best; the rating where a
    model has a rating head."""
    image = await read_image(request, state.config.max_pixels)
    probs, rating = await state.batchers["tags"].submit(image.data)
    model = current.tagger
    tuned = model.tag_thresholds() if threshold is None else threshold
    cut = None if top_k and threshold is None else tuned  # top_k alone: the K best, whatever they score
    chosen = select_tags(probs, cut=cut, categories=state.tag_categories(model), wanted=category, top_k=top_k)
    names, cats = model.tag_names, model.tag_categories
    found = [
        {"name": names[j], "category": cats[j], "score": round(score, 6)}
        for j, score in zip(chosen.tolist(), probs[chosen].astype(np.float64).tolist(), strict=True)
    ]
    by_category: dict[str, list[str]] = {}
    for tag in found:
        by_category.setdefault(tag["category"], []).append(tag["name"])
    rated = None
    if rating is not None:
        scores = {name: round(float(s), 6) for name, s in zip(current.rater.rating_names, rating, strict=True)}
        rated = {"model": current.rater.name, "label": max(scores, key=scores.get), "scores": scores}
    selection = "top_k" if top_k and threshold is None else ("threshold" if threshold is not None else "tuned")
    return {
        "model": model.name,
        "selection": selection,
        "tags": found,
        "categories": by_category,
        "rating": rated,
        "image": image.describe(),
    }


@router.post("/v1/illust2vec", summary="illust2vec feature of an uploaded image", openapi_extra=IMAGE_BODY)
async def illust2vec(
    request: Request,
    current: Services = Depends(needs("embedder")),
    state: ServingState = Depends(serving_state),
) -> dict:
    image = await read_image(request, state.config.max_pixels)
    vector = await state.batchers["embed"].submit(image.data)
    return {
        "model": current.embedder.name,
        "dim": int(len(vector)),
        "vector": np.asarray(vector, np.float32).tolist(),
        "image": image.describe(),
    }


def similar_filters(rating: list[str] | None, tag: list[str] | None) -> tuple[set[str], set[str]]:
    bad = sorted(set(rating or []) - set(RATINGS))
    if bad:
        raise BadInput(422, f"Unknown rating {bad[0]!r}; use one of {', '.join(RATINGS)}.")
    return set(rating or []), {t.strip() for t in tag or [] if t.strip()}


def similar_answer(current: Services, vector, k: int, ratings, required, exclude=None) -> dict:
    keep = current.posts.keep(ratings=ratings, required_tags=required)
    hits = current.image_store.search(np.asarray(vector)[None, :], k, keep=keep, exclude=exclude)[0]
    results = [{**current.posts.get(h.id), "score": round(h.score, 6)} for h in hits if current.posts.get(h.id)]
    return {
        "k": k,
        "filters": {"rating": sorted(ratings), "tags": sorted(required)},
        "backend": current.image_store.backend,
        "results": results,
    }


@router.post("/v1/similar", summary="Illustrations similar to an uploaded image", openapi_extra=IMAGE_BODY)
async def similar_upload(
    request: Request,
    k: int = limit_query("k"),
    rating: list[str] | None = Query(None, description="Keep only these ratings."),
    tag: list[str] | None = Query(None, description="Keep only posts with all these tags."),
    current: Services = Depends(needs("embedder", "image_store")),
    state: ServingState = Depends(serving_state),
) -> dict:
    k = at_most(state.config, "k", k)
    ratings, required = similar_filters(rating, tag)
    image = await read_image(request, state.config.max_pixels)
    vector = await state.batchers["embed"].submit(image.data)
    answer = await asyncio.to_thread(similar_answer, current, vector, k, ratings, required)
    return {**answer, "image": image.describe()}


def post_or_404(current: Services, post_id: int) -> dict:
    post = current.posts.get(post_id)
    if post is None:
        raise BadInput(404, f"No post with id {post_id} in the index.")
    return post


@router.get("/v1/posts/{post_id}", summary="A post by id")
async def post(
    post_id: int = Path(..., description="Post id on its booru."), current: Services = Depends(needs("image_store"))
) -> dict:
    return post_or_404(current, post_id)


@router.get("/v1/posts/{post_id}/thumbnail", summary="A post's image (JPEG, from the dataset)")
async def thumbnail(post_id: int, current: Services = Depends(needs("image_store"))) -> Response:
    post_or_404(current, post_id)
    return Response(
        current.posts.thumbnail(post_id),
        media_type="image/jpeg",
        headers={"cache-control": "public, max-age=86400"},
    )


@router.get("/v1/posts/{post_id}/similar", summary="Illustrations similar to a post")
async def similar_post(
    post_id: int,
    k: int = limit_query("k"),
    rating: list[str] | None = Query(None, description="Keep only these ratings."),
    tag: list[str] | None = Query(None, description="Keep only posts with all these tags."),
    current: Services = Depends(needs("image_store")),
    state: ServingState = Depends(serving_state),
) -> dict:
    k = at_most(state.config, "k", k)
    ratings, required = similar_filters(rating, tag)
    post_or_404(current, post_id)
    vector = await asyncio.to_thread(current.image_store.vector, post_id)
    if vector is None:
        raise BadInput(404, f"Post {post_id} has no vector in the index (its image could not be embedded).")
    answer = await asyncio.to_thread(similar_answer, current, vector, k, ratings, required, {post_id})
    return {"post_id": post_id, **answer}
