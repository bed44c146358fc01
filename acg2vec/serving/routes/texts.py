"""Text routes: acgvoc2vec vectors, work search in any language, entities by id, tag autocomplete."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

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


@router.get(
    "/v1/works/search",
    summary="Works matching a text in any language",
    description="One result per work (entity): its id, titles by language, aliases and the sources they came from.",
)
async def works_search(
    q: str = Query(..., description="A title or any text about a work, in Japanese, Chinese or English."),
    k: int = limit_query("k"),
    scorer: str | None = Query(
        None, description="hybrid, dense or lexical (default: the model's, listed first by /readyz)."
    ),
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


class EntitySource(BaseModel):
    source: str = Field(description="The site a record of the entity came from (bangumi, wikipedia, moegirl ...).")
    source_id: str | None = Field(description="Its id on that site; null where only the site is known.")


class LinkEvidence(BaseModel):
    source: str
    source_id: str
    method: str = Field(description="seed (the record that names the entity), id-link or match.")
    match_weight: float | None = Field(None, description="A match's weight in bits.")
    match_probability: float | None = None
    agreed: list[str] = Field(default_factory=list, description="The fields that agreed, for a match.")
    ids: list[str] = Field(default_factory=list, description="The site ids that named each other, for an id-link.")
    linked_to: str = ""


class EntityAnswer(BaseModel):
    entity_id: str = Field(description="<kind>:<12 hex digits> (or a corpus key where no entities table was built).")
    kind: str = Field(description="work, character or person.")
    title: str = Field(description="The title to show: Japanese first, then Chinese, English.")
    titles: dict[str, str] = Field(description="Canonical title by language.")
    aliases: list[str] = Field(description="Every other spelling any site gives.")
    sources: list[EntitySource]
    url: str
    evidence: list[LinkEvidence] = Field(description="How each source's record was linked (empty without a table).")
    works: list[str] = Field(description="A character's works (entity ids).")
    voice_actors: list[str] = Field(description="A character's voice actors (entity ids).")


@router.get(
    "/v1/entities/{entity_id}",
    summary="A work, character or person with its titles, aliases and sources",
    response_model=EntityAnswer,
    responses={
        404: {
            "description": "No entity with that id.",
            "content": {"application/json": {"example": {"detail": "No entity 'work:000000000000' in this server."}}},
        }
    },
)
async def entity(
    entity_id: str = Path(..., description="An id from a work search result or the entities table."),
    current: Services = Depends(needs("entities")),
) -> dict:
    found = current.entities.get(entity_id)
    if found is None:
        raise BadInput(404, f"No entity {entity_id!r} in this server.")
    return found


@router.get("/v1/tags/complete", summary="Tags starting with a prefix, with translations")
async def tag_complete(
    prefix: str = Query(..., min_length=1, max_length=200, description="Start of a tag in any language."),
    limit: int = limit_query("limit"),
    current: Services = Depends(needs("tags")),
    state: ServingState = Depends(serving_state),
) -> dict:
    limit = at_most(state.config, "limit", limit)
    return {"prefix": prefix, "results": current.tags.complete(prefix, limit=limit)}
