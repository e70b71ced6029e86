import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Four optima at the corners of a square, 1.2 apart: far apart compared with their width.
DEFAULT_OPTIMA = ((0.6, 0.6), (-0.6, 0.6), (-0.6, -0.6), (0.6, -0.6))


class MultimodalBanditEnv(gym.Env[np.ndarray, np.ndarray]):
    """
    One-step continuous bandit whose reward has several equally good, well-separated optima.

    Every episode is a single action ``a`` in [-1, 1]^A with reward
    ``max_k exp(-||a - c_k||^2 / (2 width^2))``: a Gaussian bump of height 1 around each optimum
    ``c_k``, and almost nothing between them. The observation is a constant zero vector, so the
    optimal policy of the task is any mixture of the optima. A Gaussian policy has to pick one of
    them; a policy that can represent several modes may keep them all.

    :param optima: the optimal actions, each in [-1, 1]^A (default: the four points (+-0.6, +-0.6))
    :param width: standard deviation of each bump
    """

    def __init__(self, optima: tuple[tuple[float, ...], ...] = DEFAULT_OPTIMA, width: float = 0.15):
        super().__init__()
        self.optima = np.asarray(optima, dtype=np.float32)
        if self.optima.ndim != 2 or len(self.optima) < 2 or np.any(np.abs(self.optima) > 1):
            raise ValueError(f"optima must be at least two points in [-1, 1]^A, got {optima}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.width = float(width)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.optima.shape[1],), dtype=np.float32)

    def reward(self, actions: np.ndarray) -> np.ndarray:
        """Reward of a batch of actions, shape (..., A) -> (...)."""
        squared_distances = np.sum((np.asarray(actions)[..., None, :] - self.optima) ** 2, axis=-1)
        return np.exp(-squared_distances.min(axis=-1) / (2 * self.width**2))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(1, dtype=np.float32), float(self.reward(action)), True, False, {}


def mode_shares(actions: np.ndarray, optima: np.ndarray, radius: float) -> np.ndarray:
    """
    Share of the actions that lie within ``radius`` of each optimum.

    :param actions: sampled actions, shape (N, A)
    :param optima: the optima, shape (K, A), at least ``2 * radius`` apart
    :param radius: distance within which an action counts as reaching an optimum
    :return: shape (K,); the shares sum to the fraction of actions near some optimum
    """
    distances = np.linalg.norm(np.asarray(actions)[:, None, :] - np.asarray(optima)[None], axis=-1)
    return (distances < radius).mean(axis=0)
