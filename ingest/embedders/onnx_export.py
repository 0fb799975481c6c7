"""Make or find the cached ONNX int8 copy of a local transformer encoder.

The encoder of a sentence-transformers model (its first module, a Hugging Face model that maps
``input_ids``/``attention_mask``/``token_type_ids`` to ``last_hidden_state``) is exported with
``torch.onnx.export`` and dynamically quantised to int8 (``onnxruntime.quantization``). The
tokenizer, pooling and normalisation stay the model's own sentence-transformers modules, so
nothing about pooling (mean for MiniLM, CLS for BGE-M3) is hard-coded here.

sentence-transformers' own ``backend="onnx"`` goes through optimum-onnx, which pins
transformers below 4.58; this project's transformers is 5.x, so the export is done here with
the two libraries underneath it.

The quantisation recipe: the weight matrix of every ``MatMul`` in int8 with one scale per output
channel (activations are quantised per batch, as dynamic quantisation does), except the
feed-forward down-projections of the first two layers, which stay in float: their inputs carry
the outlier activations that a per-batch scale cannot hold. Measured against the torch vectors
of the bundled MiniLM (SciFact abstracts; the sample knowledge base's paragraphs): onnxruntime's
default (one scale per tensor) kept a mean cosine of only 0.94; per channel 0.995 (min 0.991 on
SciFact, 0.974 on the sample's Chinese paragraphs, which MiniLM barely tokenises); with the first
two down-projections in float min 0.995 and 0.988; with all of them in float 0.996 and 0.993,
at two thirds of the speed. Fusing attention and layer norms first
(``onnxruntime.transformers.optimizer``) made no difference on this CPU.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from ingest.errors import EmbeddingError

log = logging.getLogger(__name__)

MODEL_FILE = "model.int8.onnx"
_COMPLETE = "COMPLETE"  # written last inside the temp dir; a cache dir without it is ignored
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model")
EXPORT_FORMAT = "3"  # bump when the export or quantisation recipe changes
FLOAT_DOWN_PROJECTIONS = 2  # first layers whose feed-forward down-projection is not quantised

exports = 0  # how many exports this process ran (tests assert the cache is reused)


def weights_key(model_dir: Path) -> str:
    """A hash of the weight and config files' relative names, sizes and mtimes."""
    digest = hashlib.sha256(EXPORT_FORMAT.encode())
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    if not files:
        raise EmbeddingError(f"no weight files under {model_dir}")
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _export(auto_model: Any, input_names: list[str], target: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    auto_model = auto_model.eval()
    dummy = {name: torch.ones((2, 8), dtype=torch.long) for name in input_names}
    if "token_type_ids" in dummy:
        dummy["token_type_ids"] = torch.zeros((2, 8), dtype=torch.long)
    if "attention_mask" in dummy:
        # A padded row, so that tracing keeps the mask (an all-ones mask is optimised away).
        dummy["attention_mask"][1, 5:] = 0
    # Eager attention traces to plain matmuls with the mask; SDPA's mask shortcuts do not trace.
    previous = getattr(auto_model.config, "_attn_implementation", None)
    if previous is not None:
        auto_model.config._attn_implementation = "eager"

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = auto_model

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args, strict=True)), return_dict=True).last_hidden_state

    fp32 = target / "model.fp32.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    # The tracer warns of every shape-dependent branch it freezes; the exported graph is checked
    # against torch by the tests (dynamic batch and sequence), so the warnings are noise in a log.
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Encoder(),
                tuple(dummy[name] for name in input_names),
                str(fp32),
                input_names=input_names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    finally:  # a failed export leaves the torch model as it was, for the fallback to use
        if previous is not None:
            auto_model.config._attn_implementation = previous
    external = any(p != fp32 for p in target.iterdir())  # past 2 GB the weights go to files of their own
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime advises pre-processing on the root logger; it did not help here
    try:
        quantize_dynamic(
            str(fp32),
            str(target / MODEL_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=kept_in_float(fp32),
            use_external_data_format=external,
        )
    finally:
        root.setLevel(level)
    if not os.environ.get("RAG_KEEP_FP32_ONNX"):
        for path in target.iterdir():
            if not path.name.startswith(MODEL_FILE):
                path.unlink()


def kept_in_float(fp32: Path, layers: int = FLOAT_DOWN_PROJECTIONS) -> list[str]:
    """The feed-forward down-projections of the first ``layers`` layers (Hugging Face names
    ``…/output/dense/MatMul`` outside attention, in graph order)."""
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    down = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and "/output/dense/" in node.name and "/attention/" not in node.name
    ]
    return down[:layers]


def cached_int8_model(model_dir: Path, cache_root: Path, auto_model: Any, input_names: list[str]) -> Path:
    """The int8 ONNX file for the encoder whose weights are in ``model_dir``; exported when missing."""
    global exports
    final = cache_root / weights_key(model_dir)
    if (final / _COMPLETE).exists() and (final / MODEL_FILE).exists():
        return final / MODEL_FILE
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache_root))
    try:
        log.info(
            "exporting %s to ONNX int8 under %s: once per weights, a minute or more for a large model "
            "(RAG_EMBEDDING__BACKEND=torch skips it)",
            model_dir,
            final,
        )
        began = time.perf_counter()
        _export(auto_model, input_names, tmp)
        log.info("exported to ONNX int8 in %.0f s", time.perf_counter() - began)
        (tmp / _COMPLETE).write_text(str(model_dir))
        exports += 1
        if final.exists() and not (final / _COMPLETE).exists():  # left by a killed run of old: replace it
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / _COMPLETE).exists():  # another process finished first: use its export
                raise
    except Exception as exc:
        raise EmbeddingError(f"cannot export {model_dir} to ONNX int8: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / MODEL_FILE


class OnnxEncoder:
    """Stands in for a Hugging Face encoder inside sentence-transformers' Transformer module."""

    def __init__(self, onnx_path: Path, config: Any) -> None:
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        # The same intra-op threads as torch in this process (``cpu_threads.set_torch_threads``:
        # one in ``rag serve``), so one setting rules the forward pass whichever backend runs it.
        options.intra_op_num_threads = torch.get_num_threads()
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        self.config = config

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        import numpy as np
        import torch

        feeds = {name: kwargs[name].cpu().numpy().astype(np.int64) for name in self._inputs if name in kwargs}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        return {"last_hidden_state": torch.from_numpy(hidden)}

    forward = __call__


def use_onnx(model: Any, model_dir: Path, cache_root: Path) -> Path:
    """Swap the encoder of a loaded ``SentenceTransformer`` for its cached ONNX int8 copy."""
    transformer = model[0]
    auto_model = getattr(transformer, "model", None) or getattr(transformer, "auto_model", None)
    if auto_model is None:
        raise EmbeddingError(f"{model_dir}: first module has no Hugging Face model to export")
    import inspect

    params = inspect.signature(auto_model.forward).parameters
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params]
    path = cached_int8_model(model_dir, cache_root, auto_model, input_names)
    encoder = OnnxEncoder(path, auto_model.config)
    attr = "model" if getattr(transformer, "model", None) is not None else "auto_model"
    # The torch weights are dropped from the module tree: only the ONNX session holds the model now.
    transformer._modules.pop(attr, None)
    object.__setattr__(transformer, attr, encoder)
    return path
