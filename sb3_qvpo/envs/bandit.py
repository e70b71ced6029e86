import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ContinuousBanditEnv(gym.Env[np.ndarray, np.ndarray]):
    """
    One-step continuous bandit: every episode is a single action in [-1, 1]^A with reward
    ``1 - ||a - target||^2``; the best reward is 1, reached at ``a = target``.
    The observation is a constant zero vector.

    :param target: the optimal action, in [-1, 1]^A
    """

    def __init__(self, target: tuple[float, ...] = (0.5, -0.3)):
        super().__init__()
        self.target = np.asarray(target, dtype=np.float32)
        if self.target.ndim != 1 or np.any(np.abs(self.target) > 1):
            raise ValueError(f"target must be a vector in [-1, 1]^A, got {target}")
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=self.target.shape, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = 1.0 - float(np.sum((np.asarray(action) - self.target) ** 2))
        return np.zeros(1, dtype=np.float32), reward, True, False, {}
