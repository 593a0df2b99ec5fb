"""The echo experiments' training steps on the torch backend, without Keras' per-step overhead.

On torch, Keras runs every training step eagerly through the model's layers,
its loss and metric objects and the fit loop. For these models of 146 to 170
parameters that bookkeeping costs about 8 ms a step: 8 s for the article's
1000 epochs, where JAX and TensorFlow compile the step and take 2 to 3 s.

`train` makes the same steps on the model's own variables. The forward pass
is the arithmetic of Keras' torch LSTM on CPU (`_fallback_lstm`: the input
projection and bias for every step at once, then the recurrent matmul, gates
in the order i, f, c, o) followed by the Dense head; the loss is Keras' mean
squared error with its `sum_over_batch_size` reduction; the gradients come
from torch's autograd, as in Keras' torch `train_step`; and the update is the
model's own compiled optimizer, `model.optimizer.apply`. tests/test_echo.py
checks it against Keras' `fit`, one epoch at a time, on every experiment.

torch is imported inside `train`, so the module imports (and its docstrings
are collected) on any backend.
"""

import keras
import numpy as np
from keras import layers

from keras_tdplus.layers import TimeDistributedDense

__all__ = []


def _dense_of(head):
    """The Dense whose kernel the head applies, or None for any other head."""
    if type(head) is layers.TimeDistributed and type(head.layer) is layers.Dense:
        return head.layer
    if type(head) in (layers.Dense, TimeDistributedDense):
        return head
    return None


def supports(model):
    """Whether `model` is an echo model this loop reproduces step for step.

    That is a Sequential of a plain float32 LSTM (tanh and sigmoid, with bias,
    no dropout, mask, state or reversal) and a linear Dense head with bias,
    compiled with mean squared error. Anything else trains with Keras' `fit`.
    """
    if type(model) is not keras.Sequential or len(model.layers) != 2:
        return False
    lstm, head = model.layers
    dense = _dense_of(head)
    if type(lstm) is not layers.LSTM or dense is None:
        return False
    cell = lstm.cell
    plain_lstm = (
        cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        and cell.use_bias
        and not (cell.dropout or cell.recurrent_dropout)
        and not (lstm.stateful or lstm.go_backwards or lstm.unroll or lstm.return_state)
    )
    plain_head = (
        dense.activation is keras.activations.linear
        and dense.use_bias
        and dense.quantization_mode is None
        and not getattr(dense, "lora_enabled", False)
    )
    float32 = all(layer.dtype_policy.name == "float32" for layer in (lstm, head, dense))
    return (
        plain_lstm
        and plain_head
        and float32
        and model.loss == "mean_squared_error"
        and not model.losses
    )


def train(model, x, y, steps):
    """Makes `steps` training steps on the batch `(x, y)`; returns each step's loss.

    Each loss is the one Keras' `fit` reports for that step: the loss on the
    batch before the step's update.
    """
    import torch

    lstm, head = model.layers
    cell = lstm.cell
    dense = _dense_of(head)
    variables = model.trainable_variables
    values = [v.value for v in variables]
    kernel, recurrent_kernel, bias = cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value
    head_kernel, head_bias = dense.kernel.value, dense.bias.value
    inputs = torch.as_tensor(np.asarray(x, dtype="float32")).permute(1, 0, 2)  # time first
    targets = torch.as_tensor(np.asarray(y, dtype="float32"))
    zeros = torch.zeros(inputs.shape[1], cell.units)
    losses = []
    for _ in range(steps):
        projected = torch.matmul(inputs, kernel) + bias
        h, c = zeros, zeros
        outputs = []
        for step in projected:
            z = step + torch.matmul(h, recurrent_kernel)
            z_i, z_f, z_c, z_o = torch.chunk(z, 4, dim=1)
            c = torch.sigmoid(z_f) * c + torch.sigmoid(z_i) * torch.tanh(z_c)
            h = torch.sigmoid(z_o) * torch.tanh(c)
            outputs.append(h)
        features = torch.stack(outputs, dim=1) if lstm.return_sequences else h
        predictions = torch.matmul(features, head_kernel) + head_bias
        per_sample = torch.mean(torch.square(targets - predictions), dim=-1)
        loss = torch.sum(per_sample) / per_sample.numel()
        gradients = torch.autograd.grad(loss, values)
        with torch.no_grad():
            model.optimizer.apply(list(gradients), variables)
        losses.append(loss.detach())
    return torch.stack(losses).numpy() if losses else np.zeros((0,), "float32")
