"""A workdir whose acgvoc2vec has the published model's architecture, for measuring serving throughput offline.

The published acgvoc2vec is fine-tuned from ``sentence-transformers/distiluse-base-multilingual-cased-v2`` (the
``original`` recipe): a 6-layer, 768-wide DistilBERT, mean pooling and a 768 -> 512 tanh Dense layer. Its weights
need a download, but the cost of a forward pass depends only on the architecture and the token count, so this
script builds that architecture with random weights around the source workdir's own tokenizer (every Han and
kana character a token, as multilingual BERT's tokenizer also splits CJK text) and the source model's input
normalisation. Everything else of the new workdir links to the source one. Its search results mean nothing; its
requests per second and CPU per request are those of a full-size encoder.

    .venv/bin/python benchmarks/published_size_encoder.py --workdir acg2vec-data --out /tmp/serve-published
    flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/serve.py --workdir /tmp/serve-published
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# distiluse-base-multilingual-cased-v2 (its config.json and modules): DistilBERT + mean pooling + Dense 512.
PUBLISHED = {"dim": 768, "layers": 6, "heads": 12, "hidden": 3072, "out_dim": 512}
MAX_SEQ = 128


def build(source_model: Path, out_model: Path, *, seed: int = 0, shape: dict | None = None) -> None:
    """``out_model``: a sentence-transformers folder of ``shape`` (default: the published architecture) with
    random weights, ``source_model``'s tokenizer and input normalisation."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    from acg2vec.trainers.text.input_module import NORMALIZATION, NormalizedTransformer

    torch.manual_seed(seed)
    settings = json.loads((source_model / "sentence_bert_config.json").read_text())
    normalization = settings.get("text_normalization", NORMALIZATION)
    out_model.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source_model))
    tokenizer.save_pretrained(str(out_model))
    shape = shape or PUBLISHED
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=shape["dim"], n_layers=shape["layers"], n_heads=shape["heads"],
        hidden_dim=shape["hidden"], max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    DistilBertModel(config).save_pretrained(str(out_model))
    transformer = NormalizedTransformer(str(out_model), max_seq_length=MAX_SEQ, text_normalization=normalization)
    pooling = Pooling(shape["dim"], pooling_mode="mean")
    dense = Dense(shape["dim"], shape["out_dim"], activation_function=torch.nn.Tanh())
    SentenceTransformer(modules=[transformer, pooling, dense], device="cpu").save(str(out_model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="A workdir with a trained acgvoc2vec.")
    parser.add_argument("--out", type=Path, required=True, help="The new workdir (replaced).")
    args = parser.parse_args(argv)
    source = args.workdir.resolve()
    if not (source / "models" / "acgvoc2vec" / "modules.json").is_file():
        sys.exit(f"no acgvoc2vec under {source}/models: run `acg2vec demo` or `acg2vec train text` first")
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "models").mkdir(parents=True)
    for name in ("datasets", "raw"):
        (args.out / name).symlink_to(source / name)
    for model in (source / "models").iterdir():
        if model.name != "acgvoc2vec":
            (args.out / "models" / model.name).symlink_to(model)
    build(source / "models" / "acgvoc2vec", args.out / "models" / "acgvoc2vec")
    p = PUBLISHED
    print(f"{args.out}: acgvoc2vec of the published architecture ({p['layers']} x {p['dim']} DistilBERT, "
          f"Dense {p['out_dim']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
