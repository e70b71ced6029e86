"""Small gymnasium tasks used by the tests and examples; importing this module registers them."""

from gymnasium.envs.registration import register, registry

from sb3_qvpo.envs.bandit import ContinuousBanditEnv
from sb3_qvpo.envs.multimodal import MultimodalBanditEnv, mode_shares

__all__ = ["ContinuousBanditEnv", "MultimodalBanditEnv", "mode_shares"]

if "sb3_qvpo/ContinuousBandit-v0" not in registry:
    register(id="sb3_qvpo/ContinuousBandit-v0", entry_point="sb3_qvpo.envs.bandit:ContinuousBanditEnv")
if "sb3_qvpo/MultimodalBandit-v0" not in registry:
    register(id="sb3_qvpo/MultimodalBandit-v0", entry_point="sb3_qvpo.envs.multimodal:MultimodalBanditEnv")
