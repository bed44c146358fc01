"""Tiny ONNX models in the release layouts, built node by node with the onnx helper API (opset 17)."""

from __future__ import annotations

import numpy as np


def wd_onnx(path, size: int, weights: np.ndarray, bias: np.ndarray) -> None:
    """input NHWC float -> mean over H, W -> MatMul + Add -> Sigmoid, as an ONNX graph (opset 17)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_tags = weights.shape[1]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input_1:0"], ["pooled"], axes=[1, 2], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
        ],
        "wd_tagger",
        [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", n_tags])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def i2v_onnx(path, size: int, weights: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["data"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["encode1"]),
        ],
        "illust2vec",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("encode1", TensorProto.FLOAT, ["batch", weights.shape[1]])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
