"""Health routes: the process answers (and is not stopping), the models are loaded (503 while checking, rebuilding
or loading, saying which), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from acg2vec.serving.state import ServingState, serving_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers; 503 once a failed load is stopping it.")
async def healthz(state: ServingState = Depends(serving_state)) -> JSONResponse:
    if state.fatal is not None:
        return JSONResponse({"status": "failed", "error": state.error}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Models and indexes loaded (503 while checking, rebuilding or loading).")
async def readyz(state: ServingState = Depends(serving_state)) -> JSONResponse:
    if state.services is None:
        if state.error:
            return JSONResponse({"status": "failed", "error": state.error}, status_code=503)
        status = "rebuilding" if state.rebuilding else "loading"
        return JSONResponse({"status": status, "detail": f"The server is {state.phase}.", "error": None}, 503)
    return JSONResponse({"status": "ready", **state.services.status()})


@router.get("/metrics", summary="Prometheus metrics: requests, latencies, batch sizes.")
async def prometheus(state: ServingState = Depends(serving_state)) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
