"""Optional ONNX export for fast CPU inference: fp32 and dynamically quantised int8, with the quality change measured.

    <model>/onnx/model.onnx        transformer + mean pooling, inputs input_ids / attention_mask
    <model>/onnx/model_int8.onnx   int8 weights (onnxruntime dynamic quantisation)
    <model>/onnx/quality.json      held-out metrics and texts/s: torch vs onnx fp32 vs onnx int8

Uses ``torch.onnx`` and ``onnxruntime`` directly: the library route (optimum) would need a different transformers
version than acg2vec pins. Only Transformer + mean Pooling models (the ones acg2vec trains from scratch, and most
sentence-transformers models) are exported; others raise a UserError.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from acg2vec.errors import UserError
from acg2vec.trainers.text.evaluators import score_similarities
from acg2vec.trainers.text.normalize import normalizer

if TYPE_CHECKING:
    from acg2vec.trainers.text.evaluators import EvalSets

log = logging.getLogger(__name__)


def _mean_pooled_module(model):
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    modules = list(model)
    if len(modules) != 2 or not isinstance(modules[0], Transformer) or not isinstance(modules[1], Pooling):
        raise UserError("ONNX export supports Transformer + Pooling models only; this model has other modules.")
    if modules[1].pooling_mode != "mean":
        raise UserError(f"ONNX export supports mean pooling only, not {modules[1].pooling_mode!r}.")
    transformer = modules[0].model

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooled().eval()


def export_onnx(model_dir: str | Path) -> dict[str, str]:
    """Write ``onnx/model.onnx`` and ``onnx/model_int8.onnx`` beside the model; return their paths."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from acg2vec.trainers.text.input_module import load_encoder

    model_dir = Path(model_dir)
    model = load_encoder(model_dir, device="cpu")
    out = model_dir / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    wrapped = _mean_pooled_module(model)
    sample = model.tokenizer(["星の海", "Sea of Star"], padding=True, return_tensors="pt")
    fp32, int8 = out / "model.onnx", out / "model_int8.onnx"
    with torch.no_grad():
        # The TorchScript exporter: the dynamo exporter needs onnxscript, which acg2vec does not install.
        torch.onnx.export(
            wrapped,
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
    # The quantiser logs one INFO line per tensor on the root logger.
    logging.disable(logging.INFO)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    log.info("Exported ONNX models to %s", out)
    return {"fp32": str(fp32), "int8": str(int8)}


class OnnxEncoder:
    """Encode texts with an exported ONNX model and the model folder's tokenizer (CPU, onnxruntime)."""

    def __init__(self, onnx_path: str | Path, model_dir: str | Path, *, max_seq_length: int = 128) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.max_seq_length = max_seq_length
        # The input normalisation the torch model applies (its first module's config), applied here too.
        config_path = Path(model_dir) / "sentence_bert_config.json"
        saved = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        self.normalize = normalizer(saved.get("text_normalization"))

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                [self.normalize(t) for t in texts[start : start + batch_size]],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feeds = {
                "input_ids": batch["input_ids"].astype(np.int64),
                "attention_mask": batch["attention_mask"].astype(np.int64),
            }
            out.append(self.session.run(["sentence_embedding"], feeds)[0])
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _cosine(encode):
    def similarity(a: list[str], b: list[str]) -> np.ndarray:
        ea, eb = encode(a), encode(b)
        ea = ea / np.linalg.norm(ea, axis=1, keepdims=True).clip(min=1e-12)
        eb = eb / np.linalg.norm(eb, axis=1, keepdims=True).clip(min=1e-12)
        return ea @ eb.T

    return similarity


def measure_onnx_quality(model_dir: str | Path, sets: EvalSets, paths: dict[str, str]) -> dict[str, dict[str, float]]:
    """Held-out metrics and encoding speed of the torch model and each ONNX export; written to onnx/quality.json."""
    from acg2vec.trainers.text.input_module import load_encoder

    model_dir = Path(model_dir)
    model = load_encoder(model_dir, device="cpu")
    encoders = {"torch": lambda texts: model.encode(texts, batch_size=64, convert_to_numpy=True)}
    for name, path in paths.items():
        encoders[f"onnx_{name}"] = OnnxEncoder(path, model_dir, max_seq_length=model.max_seq_length).encode
    probe = [t for ts in sets.translation for t in ts.sources + ts.targets] + list(sets.retrieval.corpus.values())
    quality = {}
    for name, encode in encoders.items():
        encode(probe[:8])  # warm-up: first-call allocation and graph setup are not throughput
        start = time.perf_counter()
        encode(probe)
        speed = len(probe) / max(time.perf_counter() - start, 1e-9)
        quality[name] = {**score_similarities(sets, _cosine(encode)), "texts_per_s": round(speed, 1)}
    reference = encoders["torch"](probe[:64])
    for name in paths:
        vectors = encoders[f"onnx_{name}"](probe[:64])
        cos = np.sum(reference * vectors, axis=1) / (
            np.linalg.norm(reference, axis=1) * np.linalg.norm(vectors, axis=1)
        )
        quality[f"onnx_{name}"]["mean_cosine_to_torch"] = float(np.mean(cos))
    (model_dir / "onnx" / "quality.json").write_text(json.dumps(quality, indent=2))
    return quality
