"""
Seeded runs repeat exactly, and training with the fast sampler equals training with the straightforward one;
predict(deterministic=True) is a function of the observation.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th

from sb3_qvpo import QVPO


def test_same_seed_same_run(tiny):
    params, actions = [], []
    for _ in range(2):
        model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=3, **tiny())
        model.learn(150)
        params.append(model.policy.state_dict())
        actions.append(model.predict(np.ones((4, 3), dtype=np.float32), deterministic=False)[0])
    for key in params[0]:
        th.testing.assert_close(params[0][key], params[1][key], rtol=0, atol=0)
    np.testing.assert_array_equal(actions[0], actions[1])


# A seeded run in a fresh process: 256-wide networks, where the product kernels round differently, and
# batches large enough for the fused path (sampling 16 x 32 rows, scoring them)
SEPARATE_PROCESS_RUN = """
import hashlib, sys
import numpy as np
import torch as th
from sb3_qvpo import QVPO
th.set_num_threads(1)
model = QVPO(
    "DiffusionPolicy", "Pendulum-v1", seed=7, learning_starts=40, batch_size=32, n_diffusion_steps=3,
    n_train_candidates=16, n_behavior_candidates=4, n_eval_candidates=8, n_target_candidates=4, n_uniform_samples=2,
    policy_kwargs=dict(net_arch=[256, 256], sampling_dtype=sys.argv[1]),
)
model.learn(70)
digest = hashlib.sha256()
for name, tensor in model.policy.state_dict().items():
    digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
for deterministic in (True, False):
    digest.update(model.predict(obs, deterministic=deterministic)[0].tobytes())
print(digest.hexdigest())
"""


@pytest.mark.parametrize("sampling_dtype", ["float32", "bfloat16"])
def test_same_seed_same_run_in_separate_processes(sampling_dtype):
    """Nothing that differs between processes (a timing, a cache) may change a seeded run: same parameters, same actions."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    digests = [
        subprocess.run(
            [sys.executable, "-c", SEPARATE_PROCESS_RUN, sampling_dtype], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def test_deterministic_prediction_is_a_function_of_the_observation(tiny):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny(n_eval_candidates=8))
    model.learn(100)
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    batch, _ = model.predict(obs, deterministic=True)
    # same observations, same actions, whatever the global random state and the batch around them
    th.manual_seed(123)
    np.testing.assert_array_equal(batch, model.predict(obs, deterministic=True)[0])
    single = np.stack([model.predict(o, deterministic=True)[0] for o in obs])
    np.testing.assert_allclose(batch, single, atol=1e-6)
    # the behaviour policy is stochastic
    stochastic = np.stack([model.predict(obs[0], deterministic=False)[0] for _ in range(20)])
    assert np.unique(stochastic.round(6)).size > 1


def test_training_matches_the_straightforward_implementation(tiny):
    """
    The fast sampler and candidate scoring change no result: a seeded run with them and one with the plain
    backend (``sampling_backend="plain"``: plain reverse loop and plain scoring, same random draws) end with the
    same networks and the same actions.
    Sizes put the candidate batches on the fused path (three-pass Mish, the rule's product kernel).
    """
    settings = tiny(batch_size=32, n_train_candidates=16, n_target_candidates=4, policy_kwargs=dict(net_arch=[64, 64]))
    obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    runs = []
    for backend in ("fast", "plain"):
        model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=5, **settings)
        model.sampling_backend = backend
        assert type(model.actor_target.sampler).__name__ == ("CandidateSampler" if backend == "fast" else "PlainSampler")
        assert type(model.policy.scorer).__name__ == ("FastScorer" if backend == "fast" else "PlainScorer")
        model.learn(120)
        runs.append((model.policy.state_dict(), model.predict(obs, deterministic=True)[0], model.replay_buffer))
    (fast_params, fast_actions, fast_buffer), (plain_params, plain_actions, plain_buffer) = runs
    assert fast_buffer.pos == plain_buffer.pos == 120
    np.testing.assert_allclose(fast_buffer.actions[:120], plain_buffer.actions[:120], rtol=0, atol=1e-5)
    for key in fast_params:
        th.testing.assert_close(fast_params[key], plain_params[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast_actions, plain_actions, rtol=0, atol=1e-5)
