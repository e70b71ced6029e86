"""
Named QVPO settings, as keyword arguments of :class:`sb3_qvpo.QVPO`; everything not named keeps QVPO's
defaults (the paper's MuJoCo settings). Each was chosen by measurement: see ``docs/presets.md``.

- ``CPU_PRESET``: small tasks in minutes on a CPU (Pendulum-v1 and the like). Used by ``examples/train.py``,
  ``benchmarks/compare.py --qvpo-settings cpu`` and the CPU entries of the shipped rl-zoo3 file.
- ``MUJOCO_CPU_PRESET``: MuJoCo locomotion at about 100,000 steps in about 1.5 hours of one CPU core. Used by
  ``benchmarks/compare.py --qvpo-settings mujoco-cpu`` and the rl-zoo3 file ``qvpo_mujoco_cpu.yml``.

Tests check that the rl-zoo3 entries agree with these definitions.
"""

import copy
from typing import Any

CPU_PRESET: dict[str, Any] = dict(
    learning_starts=1000,
    n_diffusion_steps=5,
    n_train_candidates=16,
    n_eval_candidates=16,
    batch_size=128,
    policy_kwargs=dict(net_arch=[64, 64, 64]),
)

# Screened on HalfCheetah-v5 and Hopper-v5 and confirmed at 100,000 steps, at most about 3x SAC's cost per step:
# the CPU preset's denoiser with 2 x 256 critics, rl-zoo3's 10,000 random steps of SAC and TD3 on these tasks, and
# the entropy coefficient decaying over the paper's 1M steps whatever the run's length
MUJOCO_CPU_PRESET: dict[str, Any] = {
    **copy.deepcopy(CPU_PRESET),
    "learning_starts": 10_000,
    "ent_coef_decay_steps": 1_000_000,
    "policy_kwargs": dict(net_arch=dict(pi=[64, 64, 64], qf=[256, 256])),
}


def copy_preset(preset: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a preset, which the caller may change."""
    return copy.deepcopy(preset)


def cpu_preset() -> dict[str, Any]:
    """A copy of :data:`CPU_PRESET` that the caller may change."""
    return copy_preset(CPU_PRESET)


def mujoco_cpu_preset() -> dict[str, Any]:
    """A copy of :data:`MUJOCO_CPU_PRESET` that the caller may change."""
    return copy_preset(MUJOCO_CPU_PRESET)
