"""
Named QVPO settings, as keyword arguments of :class:`sb3_qvpo.QVPO`.

``CPU_PRESET`` is the one definition of the CPU-sized settings used by ``examples/train.py``,
``benchmarks/compare.py --qvpo-settings cpu`` and the CPU entries of the shipped rl-zoo3 file
(tested to agree). It was chosen by measurement: see ``docs/presets.md``.
"""

from typing import Any

# Everything not named here keeps QVPO's defaults (the paper's MuJoCo settings).
CPU_PRESET: dict[str, Any] = dict(
    learning_starts=1000,
    n_diffusion_steps=5,
    n_train_candidates=16,
    n_eval_candidates=16,
    batch_size=128,
    policy_kwargs=dict(net_arch=[64, 64, 64]),
)


def cpu_preset() -> dict[str, Any]:
    """A copy of :data:`CPU_PRESET` that the caller may change (``policy_kwargs`` copied too)."""
    preset = dict(CPU_PRESET)
    preset["policy_kwargs"] = dict(CPU_PRESET["policy_kwargs"])
    return preset
