"""Health routes: the process answers, the models are loaded (503 while loading), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from acg2vec.serving.state import ServingState, serving_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers.")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Models and indexes loaded (503 while loading).")
async def readyz(state: ServingState = Depends(serving_state)) -> JSONResponse:
    if state.services is None:
        status = "failed" if state.error else "loading"
        return JSONResponse({"status": status, "error": state.error}, status_code=503)
    return JSONResponse({"status": "ready", **state.services.status()})


@router.get("/metrics", summary="Prometheus metrics: requests, latencies, batch sizes.")
async def prometheus(state: ServingState = Depends(serving_state)) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
