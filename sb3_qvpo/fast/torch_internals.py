"""
The only place that touches PyTorch's internal (underscore) operators: oneDNN's packed linear layer and its
bfloat16 check. Each is behind a function that answers "not available" (None or False) when the operator is
missing or fails, so that callers fall back to public operators; ``tests/test_sampling.py`` runs those
fallbacks with the operators taken away.
"""

import functools
from collections.abc import Callable

import torch as th


def mkldnn_op(name: str) -> Callable[..., object]:
    """``torch.ops.mkldnn.<name>``; an AttributeError or RuntimeError where this build lacks it."""
    return getattr(th.ops.mkldnn, name)


def onednn_bfloat16_supported() -> bool:
    """Whether oneDNN reports fast bfloat16 on this CPU (AVX-512 BF16 or AMX); False where it cannot tell."""
    try:
        return bool(mkldnn_op("_is_mkldnn_bf16_supported")())
    except (AttributeError, RuntimeError):
        return False


def onednn_pack_linear_weight(weight: th.Tensor, n_rows: int) -> th.Tensor | None:
    """``weight`` (out, in) in oneDNN's layout for products with ``n_rows`` rows, or None if that fails."""
    try:
        return mkldnn_op("_reorder_linear_weight")(weight, n_rows)  # type: ignore[return-value]
    except (AttributeError, RuntimeError):
        return None


def onednn_linear(x: th.Tensor, packed_weight: th.Tensor, bias: th.Tensor) -> th.Tensor:
    """``x W^T + b`` with a weight from ``onednn_pack_linear_weight`` (a new tensor)."""
    return mkldnn_op("_linear_pointwise")(x, packed_weight, bias, "none", [], "")  # type: ignore[return-value]


@functools.cache
def onednn_linear_works(dtype: th.dtype) -> bool:
    """Whether oneDNN's packed linear runs here in ``dtype`` and agrees with ``addmm`` (probed once)."""
    if not th.backends.mkldnn.is_available():
        return False
    generator = th.Generator().manual_seed(0)
    x, weight, bias = (th.randn(shape, generator=generator).to(dtype) for shape in ((8, 16), (4, 16), (4,)))
    packed = onednn_pack_linear_weight(weight, 8)
    if packed is None:
        return False
    try:
        result = onednn_linear(x, packed, bias)
    except (AttributeError, RuntimeError):
        return False
    return bool(th.allclose(result.float(), th.addmm(bias, x, weight.t()).float(), rtol=1e-2, atol=1e-2))
