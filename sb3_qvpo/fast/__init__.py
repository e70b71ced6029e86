"""
The backends that sample and score candidate actions, in pure PyTorch (nothing here knows Stable-Baselines3):

- ``"fast"`` (the default): ``CandidateSampler`` (``sampler.py``) and ``FastScorer`` (``scoring.py``), built from
  the kernels of ``kernels.py``; exact, float32 rounding aside, with bfloat16 and ``torch.compile`` as options;
- ``"plain"``: ``PlainSampler`` and ``PlainScorer``, the straightforward computations the fast ones are held to
  (tests train with both and compare; ``benchmarks/speed.py`` times both). Float32, eager only.
"""

from sb3_qvpo.fast.sampler import CandidateSampler, PlainSampler
from sb3_qvpo.fast.scoring import FastScorer, PlainScorer

BACKENDS = ("fast", "plain")


def check_backend(name: str, sampling_dtype: str, compile_sampler: bool) -> None:
    """Refuse an unknown backend, and options the plain backend does not have, naming them."""
    if name not in BACKENDS:
        raise ValueError(f"Unknown sampling_backend {name!r}: choose one of {BACKENDS}")
    if name == "plain" and (sampling_dtype != "float32" or compile_sampler):
        raise ValueError(
            "sampling_backend='plain' samples in float32 without torch.compile: "
            f"got sampling_dtype={sampling_dtype!r}, compile_sampler={compile_sampler!r}"
        )


def make_sampler(
    backend: str, sampling_dtype: str = "float32", compile_sampler: bool = False
) -> CandidateSampler | PlainSampler:
    """The candidate sampler of ``backend`` (arguments as checked by ``check_backend``)."""
    return CandidateSampler(sampling_dtype, compile_sampler) if backend == "fast" else PlainSampler()


def make_scorer(backend: str) -> FastScorer | PlainScorer:
    """The candidate scorer of ``backend``."""
    return FastScorer() if backend == "fast" else PlainScorer()
