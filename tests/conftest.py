import pytest
import torch as th

# Tests run in parallel (pytest -n 2): one thread per worker keeps the 2 cores busy without oversubscription.
th.set_num_threads(1)


def tiny_kwargs(**overrides):
    """QVPO settings small enough for fast tests."""
    kwargs = dict(
        n_diffusion_steps=3,
        n_train_candidates=4,
        n_target_candidates=2,
        n_behavior_candidates=2,
        n_eval_candidates=4,
        n_uniform_samples=2,
        batch_size=16,
        learning_starts=50,
        policy_kwargs=dict(net_arch=[16]),
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def tiny():
    return tiny_kwargs
