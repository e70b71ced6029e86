"""QVPO (Q-weighted Variational Policy Optimization) for Stable-Baselines3."""

from sb3_qvpo.policies import DiffusionPolicy, MlpPolicy, MultiInputPolicy
from sb3_qvpo.qvpo import QVPO
from sb3_qvpo.version import __version__

__all__ = ["QVPO", "DiffusionPolicy", "MlpPolicy", "MultiInputPolicy", "__version__"]
