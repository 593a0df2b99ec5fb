"""The Deploying page's commands, one section per export path.

The `model` section runs first; then each path's section on a backend that
offers it (tests/test_export.py runs them in `tox -e export`: SavedModel and
ONNX on tensorflow and jax, TFSMLayer and LiteRT on tensorflow, ONNX and
torch.export on torch). Each section checks what it reloads against the model,
and imports what its path needs, so that it can be copied alone.
"""

# ruff: noqa: E402

import os
import tempfile

import keras
import numpy as np
from keras import layers

import keras_tdplus

folder = tempfile.mkdtemp()

# --8<-- [start:model]
inputs = keras.Input((None, 32, 32, 3))  # clips of any number of frames
x = keras_tdplus.TimeDistributed(layers.Conv2D(8, 3, activation="relu"))(inputs)
x = keras_tdplus.TimeDistributed(layers.GlobalAveragePooling2D())(x)
outputs = keras_tdplus.TimeDistributedDense(5)(x)
model = keras.Model(inputs, outputs)

clips = np.random.default_rng(0).normal(size=(4, 10, 32, 32, 3)).astype("float32")
expected = keras.ops.convert_to_numpy(model(clips))
# --8<-- [end:model]

# --8<-- [start:saved_model]
import tensorflow as tf

model.export(os.path.join(folder, "serving"), format="tf_saved_model")
reloaded = tf.saved_model.load(os.path.join(folder, "serving"))
np.testing.assert_allclose(reloaded.serve(clips).numpy(), expected, atol=1e-4)
# --8<-- [end:saved_model]

# --8<-- [start:tfsm_layer]
reloaded_layer = keras.layers.TFSMLayer(os.path.join(folder, "serving"), call_endpoint="serve")
np.testing.assert_allclose(reloaded_layer(clips), expected, atol=1e-4)
# --8<-- [end:tfsm_layer]

# --8<-- [start:onnx]
import onnxruntime

model.export(
    os.path.join(folder, "model.onnx"),
    format="onnx",
    input_signature=[keras.InputSpec(shape=(None, None, 32, 32, 3), dtype="float32")],
)
session = onnxruntime.InferenceSession(os.path.join(folder, "model.onnx"))
(predicted,) = session.run(None, {session.get_inputs()[0].name: clips})
np.testing.assert_allclose(predicted, expected, atol=1e-4)
# --8<-- [end:onnx]

# --8<-- [start:litert]
from ai_edge_litert.interpreter import Interpreter

# Ten frames per clip, any number of clips: resized at run time to the batch in hand.
model.export(
    os.path.join(folder, "model.tflite"),
    format="litert",
    input_signature=[tf.TensorSpec((None, 10, 32, 32, 3), tf.float32)],
)
interpreter = Interpreter(model_path=os.path.join(folder, "model.tflite"))
index = interpreter.get_input_details()[0]["index"]
interpreter.resize_tensor_input(index, clips.shape)
interpreter.allocate_tensors()
interpreter.set_tensor(index, clips)
interpreter.invoke()
predicted = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
np.testing.assert_allclose(predicted, expected, atol=1e-4)
# --8<-- [end:litert]

# --8<-- [start:torch_export]
import torch

batch = torch.export.Dim("batch", min=1, max=1024)
time = torch.export.Dim("time", min=2, max=4096)
model.export(
    os.path.join(folder, "model.pt2"), format="torch", dynamic_shapes=({0: batch, 1: time},)
)
program = torch.export.load(os.path.join(folder, "model.pt2")).module()
predicted = program(torch.from_numpy(clips)).detach().numpy()
np.testing.assert_allclose(predicted, expected, atol=1e-4)
# --8<-- [end:torch_export]
