"""``acg2vec index images|texts``: the vector indexes ``acg2vec serve`` searches, under ``<workdir>/index/``.

Only typer and the standard library are imported here; TensorFlow, torch and FAISS load inside the commands.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from acg2vec.commands.state import workspace
from acg2vec.errors import UserError

app = typer.Typer(no_args_is_help=True)

GIB = 1024**3


def _milvus(index_dir: str, vectors: str, milvus_uri: str | None) -> str:
    if vectors != "milvus":
        return ""
    from acg2vec.serving.stores import open_store

    token = os.environ.get("MILVUS_TOKEN")
    store = open_store(index_dir, backend="milvus", milvus_uri=milvus_uri, token=token, rebuild=True)
    name = store.collection
    store.close()
    return f"; Milvus collection {name} at {milvus_uri}"


def _damage(index_dir: str, *, vectors: bool = True) -> str:
    """What the command is about to replace, when the folder it writes is damaged (said after the new one is in)."""
    from acg2vec.serving.startup import check_folder

    damage = check_folder(index_dir, vectors=vectors)
    return f"; replaced the damaged {damage.path} ({damage.problem})" if damage else ""


# The options both index commands take.
_MEMORY_BUDGET = typer.Option(4.0, "--memory-budget-gib", help="Memory the FAISS index may use.")
_VECTORS = typer.Option(
    "faiss", "--vectors", help="Also load the vectors into Milvus (faiss: only the embedded FAISS index)."
)
_MILVUS_URI = typer.Option(
    None,
    "--milvus-uri",
    help="Milvus server URL (http://host:19530; token in $MILVUS_TOKEN) or a milvus-lite file (vectors.db).",
)


@app.command("images")
def index_images(
    model: Path = typer.Option(
        None, "--model", "-m", help="Image model folder (default: the workdir's illust2vec, deepix or tagger)."
    ),
    dataset: Path = typer.Option(
        None, "--dataset", help="acg_illustrations folder (default: <workdir>/datasets/acg_illustrations)."
    ),
    batch_size: int = typer.Option(32, help="Images per model call."),
    memory_budget_gib: float = _MEMORY_BUDGET,
    vectors: str = _VECTORS,
    milvus_uri: str = _MILVUS_URI,
) -> None:
    """Embed every post of acg_illustrations and write index/images/ (FAISS index, ids, posts, thumbnails)."""
    from acg2vec.serving import indexing
    from acg2vec.serving.models import find_image_model
    from acg2vec.trainers.image.models.registry import EMBEDDER_PREFERENCE

    ws = workspace()
    model_path = str(model) if model else find_image_model(ws.models(), EMBEDDER_PREFERENCE)
    if not model_path:
        raise UserError(f"no image model under {ws.models()}; train one with `acg2vec train deepix` or pass --model.")
    out = ws.index(indexing.IMAGES)
    replaced = _damage(out)
    meta = indexing.build_image_index(
        dataset_dir=str(dataset) if dataset else os.path.join(ws.datasets(), "acg_illustrations"),
        model_path=model_path,
        out_dir=out,
        raw_root=ws.raw(),
        batch_size=batch_size,
        memory_budget=int(memory_budget_gib * GIB),
    )
    extra = _milvus(out, vectors, milvus_uri)
    dropped = sum(meta["dropped"].values())
    typer.echo(
        f"indexed {meta['count']} of {meta['posts']} posts with {Path(model_path).name} ({meta['factory']}, "
        f"dimension {meta['dim']}) in {out}" + (f"; {dropped} undecodable" if dropped else "") + extra + replaced
    )


@app.command("texts")
def index_texts(
    model: Path = typer.Option(
        None, "--model", "-m", help="acgvoc2vec folder (default: <workdir>/models/acgvoc2vec)."
    ),
    tagger: Path = typer.Option(None, "--tagger", help="Tagger whose vocabulary the tag list holds (default: found)."),
    memory_budget_gib: float = _MEMORY_BUDGET,
    vectors: str = _VECTORS,
    milvus_uri: str = _MILVUS_URI,
) -> None:
    """Embed every work's titles and aliases (index/works/) and write the tag list for autocomplete (index/tags/)."""
    from acg2vec.serving import indexing
    from acg2vec.serving.services import ServeConfig, build_tags

    ws = workspace()
    model_path = str(model) if model else ws.models("acgvoc2vec")
    out = ws.index(indexing.WORKS)
    replaced = _damage(out) + _damage(ws.index(indexing.TAGS), vectors=False)
    meta = indexing.build_works_index(
        datasets_root=ws.datasets(), model_path=model_path, out_dir=out, memory_budget=int(memory_budget_gib * GIB)
    )
    extra = _milvus(out, vectors, milvus_uri)
    tags = build_tags(ServeConfig(workdir=ws.root, tagger=str(tagger) if tagger else None))
    typer.echo(
        f"indexed {meta['count']} titles of {meta['works']} works ({meta['factory']}) in {out}{extra}; "
        f"{tags} tags for autocomplete in {ws.index(indexing.TAGS)}" + replaced
    )
