"""
Exact building blocks for running the MLPs of QVPO on large batches without autograd: a Mish in
three elementwise passes, and linear layers written into preallocated buffers through an exact product
kernel chosen by a fixed rule of device, dtype and shape. Pure PyTorch.

Mish without the transcendental chain of ``F.mish`` (``x tanh(log1p(exp(x)))``): with
``q = sigmoid(-x)``, ``tanh(softplus(x)) = (1 - q^2) / (1 + q^2)``, so

    mish(x) = x (1 - q^2) / (1 + q^2) = g - 2 g / (1 + q^2),   g = -x, q = sigmoid(g).

Only a sigmoid is evaluated, nothing overflows, and the layer before hands over ``g = -x``
for free (``addmm`` with ``alpha = beta = -1``). Measured against ``F.mish`` in float64 the
difference is a few float32 ulps of ``|x|``.

The hidden-to-hidden products ``-(h W^T + b)`` (negated, so that they hand ``g`` to the Mish) have three
exact kernels: oneDNN's packed linear layer (an internal op, behind ``torch_internals.py``), ``mm`` on the
negated weight followed by the bias, and ``addmm`` with ``alpha = beta = -1``. They do not round alike, so the
choice is a fixed rule of device, dtype and shape (``hidden_product_kernel``), never a timing: two processes
with the same seed pick the same kernels and repeat each other exactly.
"""

from typing import NamedTuple

import torch as th
from torch import nn

from sb3_qvpo.fast.torch_internals import onednn_linear, onednn_linear_works, onednn_pack_linear_weight

# Batches below this many elements are bound by per-operator overhead, not memory traffic:
# one call of F.mish beats three passes there.
FUSED_MISH_MIN_NUMEL = 1 << 15


def use_fused_mish(activation: nn.Module, numel: int) -> bool:
    """Whether the three-pass Mish applies (exactly ``nn.Mish``) and pays (a large batch: ``numel`` elements)."""
    return type(activation) is nn.Mish and numel >= FUSED_MISH_MIN_NUMEL


def mish_of_negated(negated: th.Tensor, out: th.Tensor) -> th.Tensor:
    """
    ``mish(-negated)`` written into ``out``, exact up to float rounding.

    :param negated: the pre-activation with its sign flipped, ``g = -x``, any shape
    :param out: buffer of the same shape and dtype (must not alias ``negated``)
    :return: ``out``
    """
    th.sigmoid(negated, out=out)
    th.addcmul(th.ones((), dtype=out.dtype, device=out.device), out, out, out=out)  # 1 + q^2 in one pass
    return th.addcdiv(negated, negated, out, value=-2.0, out=out)


# Exact paths for the hidden products ``-(h W^T + b)`` of the fused-Mish path: oneDNN with packed weights,
# ``mm`` on the negated weight then the bias, ``addmm`` (any device).
HIDDEN_PRODUCT_KERNELS = ("onednn_packed", "mm", "addmm")
# float32 products of at least this many multiply-adds (rows x in x out) go to oneDNN, smaller ones to ``mm``,
# whose lower call overhead wins there. Measured on Zen 4, one thread: at 16 x 64 x 64 mm took 4 us, oneDNN 31;
# at 128 x 128 x 128 46 against 53 us; at 512 x 128 x 128 176 against 166 us; at 16384 x 64 x 64 3.2 against
# 1.4 ms. In bfloat16 oneDNN was as fast or faster at every size measured (16-16384 rows, 64-256 wide).
ONEDNN_MIN_FP32_PRODUCT = 1 << 23

# One hidden layer prepared for its kernel: (weight, bias) in the kernel's form (see ``prepare_negated``)
PreparedLayer = tuple[th.Tensor, th.Tensor]


class NegatedLayers(NamedTuple):
    """Hidden layers prepared for ``negated_linear`` with one kernel of ``HIDDEN_PRODUCT_KERNELS``."""

    kernel: str
    layers: list[PreparedLayer]


def prepare_negated(kernel: str, weight: th.Tensor, bias: th.Tensor, n_rows: int) -> PreparedLayer | None:
    """
    One layer in the form ``negated_linear`` takes with ``kernel``: oneDNN-packed ``(-W, -b)``; ``(-W^T, -b)``
    for ``mm``; ``(W, b)`` unchanged for ``addmm``. Weights change after every optimiser step: prepare once
    per call (a 256 x 256 reorder takes ~0.1 ms).

    :return: the prepared layer, or None if oneDNN cannot pack it
    """
    if kernel == "onednn_packed":
        packed_weight = onednn_pack_linear_weight(-weight, n_rows)
        return None if packed_weight is None else (packed_weight, -bias)
    if kernel == "mm":
        return (-weight).t(), -bias
    return weight, bias


def negated_linear(h: th.Tensor, layer: PreparedLayer, kernel: str, out: th.Tensor) -> th.Tensor:
    """
    ``-(h W^T + b)`` through ``kernel`` with a layer from ``prepare_negated``: oneDNN returns a new tensor,
    ``mm`` and ``addmm`` write into ``out`` (which must not alias ``h``).
    """
    weight, bias = layer
    if kernel == "onednn_packed":
        return onednn_linear(h, weight, bias)
    if kernel == "mm":
        return th.mm(h, weight, out=out).add_(bias)
    return th.addmm(bias, h, weight.t(), beta=-1.0, alpha=-1.0, out=out)


def hidden_product_kernel(device: th.device, dtype: th.dtype, n_rows: int, n_out: int, n_in: int) -> str:
    """
    The kernel for ``n_rows`` x ``n_in`` -> ``n_out`` hidden products, by a fixed rule (the same in every
    process, so that seeded runs repeat exactly): ``addmm`` off the CPU; on CPU oneDNN packed for bfloat16 and
    for float32 products of at least ``ONEDNN_MIN_FP32_PRODUCT`` multiply-adds where oneDNN runs that dtype,
    ``mm`` otherwise.
    """
    if device.type != "cpu":
        return "addmm"
    large = dtype == th.bfloat16 or (dtype == th.float32 and n_rows * n_out * n_in >= ONEDNN_MIN_FP32_PRODUCT)
    return "onednn_packed" if large and onednn_linear_works(dtype) else "mm"


def negated_layers(layers: list[tuple[th.Tensor, th.Tensor]], n_rows: int) -> NegatedLayers:
    """The hidden layers (weight (H, H), bias (H,)) prepared for products with ``n_rows`` rows by the rule's kernel."""
    if not layers:
        return NegatedLayers("addmm", [])
    weight = layers[0][0]
    kernel = hidden_product_kernel(weight.device, weight.dtype, n_rows, *weight.shape)
    prepared = [prepare_negated(kernel, weight, bias, n_rows) for weight, bias in layers]
    if any(layer is None for layer in prepared):
        return NegatedLayers("addmm", layers)
    return NegatedLayers(kernel, prepared)  # type: ignore[arg-type]


class Workspace:
    """
    Preallocated buffers, one per (name, shape, dtype, device), reused across calls.
    Kept small: when more than ``max_buffers`` accumulate (many distinct batch sizes), all are dropped.

    :param max_buffers: cap on the number of cached buffers
    """

    def __init__(self, max_buffers: int = 24):
        self.max_buffers = max_buffers
        self._buffers: dict[tuple, th.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: th.dtype, device: th.device) -> th.Tensor:
        """:return: an uninitialised tensor of ``shape``, the same object on every call with these arguments"""
        key = (name, tuple(shape), dtype, device)
        buffer = self._buffers.get(key)
        if buffer is None:
            if len(self._buffers) >= self.max_buffers:
                self._buffers.clear()
            buffer = th.empty(shape, dtype=dtype, device=device)
            self._buffers[key] = buffer
        return buffer


def hidden_stack(
    pre: th.Tensor,
    layers: list[tuple[th.Tensor, th.Tensor]],
    output: tuple[th.Tensor, th.Tensor],
    activation: nn.Module,
    negated: bool,
    buffers: tuple[th.Tensor, th.Tensor],
    prepared: NegatedLayers | None = None,
) -> th.Tensor:
    """
    ``out(act(L_n(... act(L_1(act(pre))))))``: the part of an MLP after its first layer's pre-activation.

    :param pre: first hidden pre-activation, shape (N, H); holds ``-pre`` when ``negated``; may be
        ``buffers[0]`` (it is overwritten), never ``buffers[1]``
    :param layers: (weight (H, H), bias (H,)) of the hidden layers after the first
    :param output: (weight (O, H), bias (O,)) of the output layer
    :param activation: activation module of the hidden layers
    :param negated: the fused-Mish path: ``pre`` is negated and ``activation`` is ``nn.Mish``
    :param buffers: two scratch tensors of shape (N, H) in the compute dtype: pre-activations, activations
    :param prepared: ``layers`` from ``negated_layers``, for the fused-Mish path (required there)
    :return: output, shape (N, O), a new tensor
    """
    pre_buffer, act_buffer = buffers
    if negated:
        assert prepared is not None, "the fused-Mish path needs the layers from negated_layers"
        h = mish_of_negated(pre, act_buffer)
        for layer in prepared.layers:
            g = negated_linear(h, layer, prepared.kernel, pre_buffer)
            h = mish_of_negated(g, act_buffer)
    else:
        # The module's function without the hook machinery of nn.Module.__call__ (internal modules, no hooks):
        # at the behaviour action's batch of a few rows, per-call overhead is most of the time
        act = activation.forward
        h = act(pre)
        for weight, bias in layers:
            h = act(th.addmm(bias, h, weight.t()))
    return th.addmm(output[1], h, output[0].t())


def linear_parameters(layer: nn.Module) -> tuple[th.Tensor, th.Tensor]:
    """:return: weight (out, in) and bias (out,) of an ``nn.Linear`` with a bias"""
    assert isinstance(layer, nn.Linear) and layer.bias is not None, f"expected a Linear layer with a bias, got {layer}"
    return layer.weight, layer.bias


def split_mlp(mlp: nn.Sequential) -> tuple[list[nn.Module], nn.Module] | None:
    """
    :return: the linear layers and the (shared type of) activation of ``[Linear, act] * n + [Linear]``,
        or None for any other structure
    """
    modules = list(mlp)
    linears = modules[0::2]
    activations = modules[1::2]
    if len(modules) < 3 or len(modules) % 2 == 0:
        return None
    if not all(isinstance(layer, nn.Linear) and layer.bias is not None for layer in linears):
        return None
    if any(type(act) is not type(activations[0]) for act in activations):
        return None
    return linears, activations[0]


def mlp_on_candidates(
    mlp: nn.Sequential, features: th.Tensor, candidates: th.Tensor, workspace: Workspace, name: str = "mlp"
) -> th.Tensor:
    """
    ``mlp(cat([features, candidate]))`` for every candidate of every state, with the features' share of
    the first layer computed once per state. No autograd.

    :param mlp: ``[Linear, act] * n + [Linear]`` over inputs of size F + A (features first)
    :param features: shape (B, F)
    :param candidates: shape (B, K, A)
    :param workspace: buffers reused across calls
    :param name: prefix of the buffer names
    :return: shape (B * K, O)
    """
    n_states, n_candidates, action_dim = candidates.shape
    parts = split_mlp(mlp)
    if parts is None:
        inputs = th.cat((features.repeat_interleave(n_candidates, dim=0), candidates.reshape(-1, action_dim)), dim=1)
        return mlp(inputs)
    linears, activation = parts
    first_weight, first_bias = linear_parameters(linears[0])
    hidden_dim = first_weight.shape[0]
    negated = use_fused_mish(activation, n_states * n_candidates * hidden_dim)
    w_s, w_a = first_weight.split([features.shape[1], action_dim], dim=1)
    state_term = th.addmm(first_bias, features, w_s.t())  # (B, H)
    if negated:
        state_term = state_term.neg_()
    n_samples = n_states * n_candidates
    pre_buffer = workspace.get(f"{name}_pre", (n_samples, hidden_dim), features.dtype, features.device)
    act_buffer = workspace.get(f"{name}_act", (n_samples, hidden_dim), features.dtype, features.device)
    pre = th.baddbmm(
        state_term.unsqueeze(1),
        candidates,
        w_a.t().expand(n_states, action_dim, hidden_dim),
        alpha=-1.0 if negated else 1.0,
        out=pre_buffer.view(n_states, n_candidates, hidden_dim),
    )
    layers = [linear_parameters(layer) for layer in linears[1:-1]]
    prepared = negated_layers(layers, n_samples) if negated else None
    return hidden_stack(
        pre.view(n_samples, hidden_dim),
        layers,
        linear_parameters(linears[-1]),
        activation,
        negated,
        (pre_buffer, act_buffer),
        prepared,
    )
