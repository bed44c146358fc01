"""acgvoc2vec's input module: the sentence-transformers ``Transformer`` with the script normalisation in front.

The normalisation is named in the model folder (``sentence_bert_config.json``: ``text_normalization``) and the
class in ``modules.json``, so whoever loads the folder with :func:`load_encoder` encodes exactly what training saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sentence_transformers.base.modules.transformer import Transformer as _Transformer

from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError
from acg2vec.trainers.text.model_folder import repair_command, verify_text_model
from acg2vec.trainers.text.normalize import NORMALIZATION, normalizer


def _normalize_input(item: Any, fn) -> Any:
    if isinstance(item, str):
        return fn(item)
    if isinstance(item, tuple):  # a (text, text) pair for cross-encoding
        return tuple(_normalize_input(part, fn) for part in item)
    return item


class NormalizedTransformer(_Transformer):
    """The sentence-transformers ``Transformer`` input module, applying a named text normalisation first.

    Saved in the model folder like the plain module (``sentence_bert_config.json`` gains ``text_normalization``)
    and named in ``modules.json``, so the transform travels with the weights. sentence-transformers 6 imports
    classes outside its own package only when told to: load acgvoc2vec folders with :func:`load_encoder` (it
    names this class, nothing remote runs), or with ``SentenceTransformer(path, trust_remote_code=True)`` where
    acg2vec is installed.
    """

    config_keys = [*_Transformer.config_keys, "text_normalization"]

    def __init__(self, *args: Any, text_normalization: str = NORMALIZATION, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        normalizer(text_normalization)  # fail at load time on an unknown name
        self.text_normalization = text_normalization

    def preprocess(self, inputs, prompt=None, **kwargs):
        fn = normalizer(self.text_normalization)
        return super().preprocess([_normalize_input(i, fn) for i in inputs], prompt=prompt, **kwargs)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "text_normalization": self.text_normalization}


MODULE_CLASSES = {f"{NormalizedTransformer.__module__}.{NormalizedTransformer.__qualname__}": NormalizedTransformer}


def load_encoder(path: str | Path, *, device: str | None = "cpu"):
    """A SentenceTransformer from the folder ``path``, without ``trust_remote_code``, checked first.

    The folder's files are checked against its ``CHECKSUMS.json`` (:func:`verify_text_model`): damage is one
    sentence naming the file (:class:`~acg2vec.integrity.DamagedFileError`). For a folder from before checksums
    were recorded, the library's own error in loading it becomes that sentence.

    A folder whose ``modules.json`` names acg2vec's input module is assembled here, module by module, from
    acg2vec's class and sentence-transformers' own; any other type outside sentence-transformers is refused
    (nothing a folder names gets imported). Other folders load the ordinary way.
    """
    path = Path(path)
    recorded = verify_text_model(path) if path.is_dir() else []
    try:
        return _load_checked(path, device)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as err:
        if recorded or not (path / "modules.json").is_file():  # checked whole, or not a sentence-transformers folder
            raise
        raise DamagedFileError(
            path,
            f"the sentence-transformers library cannot load it: {str(err).strip().splitlines()[0][:200]}",
            lost=f"the text model {path} cannot be used",
            repair=repair_command(path),
        ) from err


def _load_checked(path: Path, device: str | None):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import import_from_string

    spec_path = path / "modules.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8")) if spec_path.is_file() else []
    if not any(entry.get("type") in MODULE_CLASSES for entry in spec):
        return SentenceTransformer(str(path), device=device)
    modules = []
    for entry in spec:
        class_ref = entry["type"]
        if class_ref in MODULE_CLASSES:
            module_class = MODULE_CLASSES[class_ref]
        elif class_ref.startswith("sentence_transformers."):
            module_class = import_from_string(class_ref)
        else:
            raise UserError(f"{spec_path} names the module class {class_ref!r}, which acg2vec does not load.")
        modules.append(module_class.load(str(path), subfolder=entry.get("path", "")))
    # The similarity function and prompts saved with the model: a model trained with "query: " keeps getting it.
    config_path = path / "config_sentence_transformers.json"
    saved = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    return SentenceTransformer(
        modules=modules,
        device=device,
        prompts=saved.get("prompts") or None,
        default_prompt_name=saved.get("default_prompt_name") or None,
        similarity_fn_name=saved.get("similarity_fn_name") or None,
    )


def encoder_normalization(model) -> str:
    """The normalisation a loaded SentenceTransformer applies to its input ("none" for a plain model)."""
    first = model[0] if len(model) else None
    return getattr(first, "text_normalization", "none") or "none"
