"""Q-weights, candidate selection, entropy samples and the entropy-coefficient schedule."""

import pytest
import torch as th

from sb3_qvpo.qvpo import make_ent_coef_schedule
from sb3_qvpo.weights import (
    QWeightTransform,
    clipped_advantage_weights,
    entropy_sample_weights,
    keep_best_candidates,
    uniform_entropy_samples,
)


def test_clipped_advantage():
    q = th.tensor([[3.0], [-1.0], [-5.0]])
    v = th.tensor([[1.0], [-2.0], [-4.0]])
    th.testing.assert_close(clipped_advantage_weights(q, v), th.tensor([[2.0], [1.0], [0.0]]))
    # Negative Q values still get positive weights through the advantage
    assert clipped_advantage_weights(th.tensor([[-10.0]]), th.tensor([[-12.0]])).item() == 2.0


def test_advantage_transform_with_candidate_values():
    candidate_q = th.tensor([[1.0, 4.0, 2.0, 1.0], [-3.0, -1.0, -2.0, -6.0]])
    candidates = th.arange(8 * 2, dtype=th.float32).view(2, 4, 2)
    kept, kept_q = keep_best_candidates(candidates, candidate_q, 1)
    th.testing.assert_close(kept[:, 0], candidates[[0, 1], [1, 1]])
    th.testing.assert_close(kept_q, th.tensor([[4.0], [-1.0]]))
    values = candidate_q.mean(dim=1, keepdim=True)
    weights = QWeightTransform("advantage")(kept_q, values, candidate_q)
    th.testing.assert_close(weights, th.tensor([[2.0], [2.0]]))


def test_top_k_kept_candidates_are_the_best():
    q = th.tensor([[0.1, 0.9, 0.5, 0.7]])
    candidates = q.unsqueeze(2)
    kept, kept_q = keep_best_candidates(candidates, q, 2)
    th.testing.assert_close(kept_q, th.tensor([[0.9, 0.7]]))
    th.testing.assert_close(kept[..., 0], kept_q)


def test_other_transforms():
    q = th.tensor([[-3.0], [0.5], [2.0]])
    v = th.zeros(3, 1)
    th.testing.assert_close(QWeightTransform("relu", {"q_neg": 1.0})(q, v, q), th.tensor([[0.0], [1.5], [3.0]]))
    th.testing.assert_close(QWeightTransform("cut", {"c": 0.1})(q, v, q), th.tensor([[0.1], [0.5], [2.0]]))
    exp = QWeightTransform("exp", {"beta": 2.0, "rate": 0.5})
    weights = exp(q, v, q)
    # one update from mean 0, var 1 at rate 0.5
    assert exp.running_mean.item() == pytest.approx(0.5 * q.mean().item())
    assert exp.running_var.item() == pytest.approx(0.5 + 0.5 * q.var(unbiased=False).item())
    expected = th.exp(2.0 * ((q - exp.running_mean) / (exp.running_var.sqrt() + 1e-8)).clamp(-8, 8))
    th.testing.assert_close(weights, expected)
    assert set(exp.state_dict()) == {"running_mean", "running_var"}


def test_bad_transform_arguments():
    with pytest.raises(ValueError, match="Unknown weight_transform 'softmax'"):
        QWeightTransform("softmax")
    with pytest.raises(ValueError, match=r"Unknown argument\(s\) \['beta'\] for weight transform 'relu'"):
        QWeightTransform("relu", {"beta": 1.0})
    with pytest.raises(ValueError, match="rate must be in"):
        QWeightTransform("exp", {"rate": 0.0})


def test_uniform_entropy_samples_cover_the_box():
    samples = uniform_entropy_samples(200, 10, 3, th.device("cpu"))
    assert samples.shape == (200, 10, 3)
    assert samples.min() >= -1 and samples.max() <= 1
    assert samples.min() < -0.99 and samples.max() > 0.99
    assert abs(samples.mean().item()) < 0.05
    # uniform on [-1, 1]: variance 1/3
    assert samples.var().item() == pytest.approx(1 / 3, rel=0.05)


def test_entropy_sample_weights():
    weights = th.tensor([[2.0, 4.0], [0.0, 0.0]])
    th.testing.assert_close(entropy_sample_weights(weights, 0.1, 3), th.tensor([[0.3] * 3, [0.0] * 3]))


def test_entropy_coefficient_schedule():
    schedule = make_ent_coef_schedule(0.02, 0.002)
    for progress in [0.0, 0.1, 0.5, 0.9, 0.95, 1.0]:
        assert schedule(1 - progress) == pytest.approx(max(0.002, 0.02 * (1 - progress)))
    assert make_ent_coef_schedule(0.05, 0.05)(0.3) == 0.05
    assert make_ent_coef_schedule(lambda p: 0.5 * p, 0.002)(0.4) == pytest.approx(0.2)
