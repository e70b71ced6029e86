"""Small gymnasium tasks used by the tests and examples; importing this module registers them."""

from gymnasium.envs.registration import register, registry

from sb3_qvpo.envs.bandit import ContinuousBanditEnv

__all__ = ["ContinuousBanditEnv"]

if "sb3_qvpo/ContinuousBandit-v0" not in registry:
    register(id="sb3_qvpo/ContinuousBandit-v0", entry_point="sb3_qvpo.envs.bandit:ContinuousBanditEnv")
