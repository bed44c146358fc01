"""Text routes: acgvoc2vec vectors, work search in any language, tag autocomplete."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from acg2vec.serving.requests import TEXT_BODY, at_most, check_text, limit_query, read_json
from acg2vec.serving.services import Services, WorkQuery
from acg2vec.serving.state import ServingState, needs, serving_state
from acg2vec.serving.uploads import BadInput

router = APIRouter(tags=["texts"])


def truncation_notice(current: Services, where: str) -> str:
    tokens = current.text.max_tokens
    return f"{where} is longer than {tokens} tokens; acgvoc2vec read only the first {tokens}."


def texts_of(payload: dict, max_texts: int) -> list[str]:
    """The texts of an embed request: ``texts`` (a non-empty list of up to ``max_texts``) or one ``text``."""
    if "texts" in payload:
        texts = payload["texts"]
        if not isinstance(texts, list) or not texts:
            raise BadInput(422, "'texts' must be a non-empty list of strings.")
        if len(texts) > max_texts:
            raise BadInput(413, f"'texts' has {len(texts)} items, over the limit of {max_texts} per request.")
        return [check_text(t, f"Text {i + 1} of 'texts'") for i, t in enumerate(texts)]
    if "text" in payload:
        return [check_text(payload["text"], "'text'")]
    raise BadInput(422, "The JSON body needs 'text' (a string) or 'texts' (a list of strings).")


@router.post("/v1/text/embed", summary="acgvoc2vec feature of a text or a batch", openapi_extra=TEXT_BODY)
async def text_embed(
    request: Request,
    current: Services = Depends(needs("text")),
    state: ServingState = Depends(serving_state),
) -> dict:
    payload = await read_json(request)
    texts = texts_of(payload, state.config.max_texts)
    one = "texts" not in payload
    encoded = await asyncio.gather(*(state.batchers["text"].submit(t) for t in texts))
    notices = [
        truncation_notice(current, "'text'" if one else f"Text {i + 1}") for i, (_, cut) in enumerate(encoded) if cut
    ]
    vectors = [np.asarray(vector, np.float32).tolist() for vector, _ in encoded]
    answer = {
        "model": current.text.name,
        "dim": current.text.dim,
        "vectors": vectors,
        "truncated": [bool(cut) for _, cut in encoded],
        "notices": notices,
    }
    if one:
        answer["vector"] = vectors[0]
    return answer


@router.get("/v1/works/search", summary="Works matching a text in any language")
async def works_search(
    q: str = Query(..., description="A title or any text about a work, in Japanese, Chinese or English."),
    k: int = limit_query("k"),
    scorer: str | None = Query(None, description="hybrid (default), dense or lexical."),
    current: Services = Depends(needs("text", "work_search")),
    state: ServingState = Depends(serving_state),
) -> dict:
    k = at_most(state.config, "k", k)
    check_text(q, "The query 'q'")
    search = current.work_search
    if scorer is not None and scorer not in search.scorers:
        raise BadInput(422, f"Unknown scorer {scorer!r}; this server has {', '.join(search.scorers)}.")
    _, cut, results = await state.batchers["text"].submit(WorkQuery(q, k, scorer))
    return {
        "query": q,
        "scorer": scorer or search.default,
        "backend": current.work_store.backend,
        "results": results,
        "notices": [truncation_notice(current, "The query")] if cut else [],
    }


@router.get("/v1/tags/complete", summary="Tags starting with a prefix, with translations")
async def tag_complete(
    prefix: str = Query(..., min_length=1, max_length=200, description="Start of a tag in any language."),
    limit: int = limit_query("limit"),
    current: Services = Depends(needs("tags")),
    state: ServingState = Depends(serving_state),
) -> dict:
    limit = at_most(state.config, "limit", limit)
    return {"prefix": prefix, "results": current.tags.complete(prefix, limit=limit)}
