"""The fast candidate sampler and critic scoring against their plain references; the sampling options."""

import warnings

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from sb3_qvpo import QVPO
from sb3_qvpo.diffusion import GaussianDiffusion
from sb3_qvpo.fast import kernels, torch_internals
from sb3_qvpo.fast import sampler as sampling_module
from sb3_qvpo.fast.kernels import (
    HIDDEN_PRODUCT_KERNELS,
    hidden_product_kernel,
    mish_of_negated,
    negated_layers,
    use_fused_mish,
)
from sb3_qvpo.fast.sampler import CandidateSampler, PlainSampler, draw_sampling_noise
from sb3_qvpo.fast.scoring import FastScorer, PlainScorer
from sb3_qvpo.fast.torch_internals import onednn_linear_works
from sb3_qvpo.networks import NoisePredictionNet
from sb3_qvpo.policies import DiffusionPolicy

ACTION_DIM, STATE_DIM, N_STEPS = 3, 5, 6


def sample_candidates(*args) -> th.Tensor:
    """The fast sampler with fresh buffers."""
    return CandidateSampler()(*args)


sample_candidates_reference = PlainSampler()


def make_problem(n_states: int, n_candidates: int, activation_fn: type[nn.Module] = nn.Mish, hidden: int = 32, seed: int = 0):
    th.manual_seed(seed)
    net = NoisePredictionNet(ACTION_DIM, STATE_DIM, [hidden, hidden, hidden], activation_fn)
    diffusion = GaussianDiffusion(N_STEPS)
    state = th.randn(n_states, STATE_DIM)
    noise = draw_sampling_noise(N_STEPS, n_states * n_candidates, ACTION_DIM, th.device("cpu"))
    return net, diffusion, state, noise


@pytest.mark.parametrize("activation_fn", [nn.Mish, nn.ReLU, nn.Tanh])
@pytest.mark.parametrize("n_states, n_candidates", [(1, 4), (3, 5), (16, 64), (1, 1100)])
def test_fast_sampler_matches_reference(activation_fn, n_states, n_candidates):
    # (16, 64) and (1, 1100) with 32 hidden units cross FUSED_MISH_MIN_NUMEL: the three-pass Mish is exercised,
    # with the batched and the one-state first-layer product
    net, diffusion, state, noise = make_problem(n_states, n_candidates, activation_fn)
    reference = sample_candidates_reference(net, diffusion, state, n_candidates, noise)
    fast = sample_candidates(net, diffusion, state, n_candidates, noise)
    assert fast.shape == (n_states, n_candidates, ACTION_DIM)
    th.testing.assert_close(fast, reference, rtol=0, atol=1e-5)
    # Not trivially equal: the actions depend on the noise and on the state
    other = sample_candidates(net, diffusion, state + 1.0, n_candidates, noise)
    assert (other - fast).abs().max() > 1e-3


def record_hidden_products(monkeypatch) -> list[str]:
    """Record the kernel of every hidden-to-hidden product on the fused path."""
    calls: list[str] = []
    original = kernels.negated_linear

    def recording(h, layer, kernel, out):
        calls.append(kernel)
        return original(h, layer, kernel, out)

    monkeypatch.setattr(kernels, "negated_linear", recording)
    return calls


def sampler_and_scoring_match_references(dtype: str = "float32") -> None:
    net, diffusion, state, noise = make_problem(16, 64, hidden=64)
    reference = sample_candidates_reference(net, diffusion, state, 64, noise)
    th.testing.assert_close(CandidateSampler(dtype)(net, diffusion, state, 64, noise), reference, rtol=0, atol=1e-5)
    th.manual_seed(0)
    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Box(-2.0, 2.0, (1,), np.float32)
    policy = DiffusionPolicy(observation_space, action_space, lambda _: 1e-3, net_arch=[64, 64, 64])
    obs, candidates = th.randn(8, 3), th.rand(8, 80, 1) * 2 - 1
    with th.no_grad():
        expected = th.cat(policy.critic(obs.repeat_interleave(80, dim=0), candidates.reshape(-1, 1)), dim=1).min(dim=1).values
    th.testing.assert_close(policy.score_candidates(policy.critic, obs, candidates), expected.view(8, 80), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernel", HIDDEN_PRODUCT_KERNELS)
def test_every_product_kernel_matches_references(monkeypatch, kernel):
    if kernel == "onednn_packed" and not onednn_linear_works(th.float32):
        pytest.skip("oneDNN's packed linear is not available in this build")
    monkeypatch.setattr(kernels, "hidden_product_kernel", lambda *args: kernel)
    calls = record_hidden_products(monkeypatch)
    sampler_and_scoring_match_references()
    # 6 steps x 2 hidden products, then 2 critics x 2 hidden products: all through the kernel
    assert calls == [kernel] * (N_STEPS * 2 + 2 * 2)


def test_kernel_rule_is_a_function_of_device_dtype_and_shape(monkeypatch):
    cpu = th.device("cpu")
    monkeypatch.setattr(kernels, "onednn_linear_works", lambda dtype: True)
    assert hidden_product_kernel(cpu, th.float32, 16, 64, 64) == "mm"
    assert hidden_product_kernel(cpu, th.float32, 2048, 64, 64) == "onednn_packed"  # 2^23 multiply-adds
    assert hidden_product_kernel(cpu, th.float32, 2047, 64, 64) == "mm"
    assert hidden_product_kernel(cpu, th.bfloat16, 16, 64, 64) == "onednn_packed"
    assert hidden_product_kernel(cpu, th.float64, 16384, 256, 256) == "mm"
    assert hidden_product_kernel(th.device("meta"), th.float32, 16384, 256, 256) == "addmm"
    # without oneDNN's packed op: the public kernel
    monkeypatch.setattr(kernels, "onednn_linear_works", lambda dtype: False)
    assert hidden_product_kernel(cpu, th.float32, 16384, 256, 256) == "mm"
    assert hidden_product_kernel(cpu, th.bfloat16, 16384, 256, 256) == "mm"


def test_negated_layers_fall_back_to_addmm_where_packing_fails(monkeypatch):
    layers = [(th.randn(8, 8), th.randn(8))]
    assert negated_layers([], 16).kernel == "addmm"
    assert negated_layers([(w.to("meta"), b.to("meta")) for w, b in layers], 16).kernel == "addmm"
    monkeypatch.setattr(kernels, "hidden_product_kernel", lambda *args: "onednn_packed")
    monkeypatch.setattr(kernels, "onednn_pack_linear_weight", lambda weight, n_rows: None)
    fallback = negated_layers(layers, 16)
    assert fallback.kernel == "addmm" and fallback.layers == layers


def test_fused_path_is_used_at_training_sizes():
    assert use_fused_mish(nn.Mish(), 16 * 64 * 32)
    assert not use_fused_mish(nn.Mish(), 3 * 5 * 32)
    assert not use_fused_mish(nn.ReLU(), 16 * 64 * 32)


def test_fused_mish_matches_mish():
    x = th.cat((th.linspace(-60, 60, 40_001), th.tensor([0.0, -1e4, 1e4, 1e-30, -1e-30, 88.0, -88.0, 89.0])))
    expected = F.mish(x.double())
    out = th.empty_like(x)
    result = mish_of_negated(-x, out)
    assert result is out
    assert th.isfinite(result).all()
    # float32 rounding of the input's size: g - 2g/d cancels where mish(x) ~ 0 (x << 0)
    error = (result.double() - expected).abs()
    assert (error <= 4 * 2**-23 * x.double().abs().clamp_min(1.0)).all()


def test_sampler_output_is_not_a_reused_buffer():
    net, diffusion, state, noise = make_problem(16, 64)
    sampler = CandidateSampler()
    first = sampler(net, diffusion, state, 64, noise)
    kept = first.clone()
    sampler(net, diffusion, state + 1.0, 64, noise)
    sampler(net, diffusion, state[:2], 3)
    th.testing.assert_close(first, kept, rtol=0, atol=0)


def test_sampler_rejects_wrong_noise_shape():
    net, diffusion, state, noise = make_problem(2, 3)
    with pytest.raises(ValueError, match="noise must have shape"):
        sample_candidates(net, diffusion, state, 4, noise)


def test_bfloat16_sampler_is_close():
    net, diffusion, state, noise = make_problem(16, 64)
    reference = sample_candidates_reference(net, diffusion, state, 64, noise)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = CandidateSampler("bfloat16")
        actions = sampler(net, diffusion, state, 64, noise)
    assert actions.dtype == th.float32
    assert actions.abs().max() <= 1.0
    if sampler.compute_dtype(th.device("cpu")) == th.bfloat16:
        assert not caught
        assert (actions - reference).abs().max() > 0  # really ran in lower precision
    # bfloat16 keeps ~3 significant digits; the reverse step stays in float32
    assert (actions - reference).abs().mean() < 2e-2


def test_bfloat16_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(sampling_module, "bfloat16_supported", lambda device: False)
    net, diffusion, state, noise = make_problem(3, 5)
    sampler = CandidateSampler("bfloat16")
    with pytest.warns(UserWarning, match="sampling in float32"):
        actions = sampler(net, diffusion, state, 5, noise)
    assert sampler.compute_dtype(th.device("cpu")) == th.float32
    th.testing.assert_close(actions, sample_candidates_reference(net, diffusion, state, 5, noise), rtol=0, atol=1e-5)


def test_missing_internal_ops_fall_back_to_public_ones(monkeypatch):
    """Without PyTorch's internal oneDNN ops: no packing, no bfloat16, and the sampler still matches the reference."""

    def missing(name):
        raise AttributeError(f"torch.ops.mkldnn has no {name} in this build")

    monkeypatch.setattr(torch_internals, "mkldnn_op", missing)
    onednn_linear_works.cache_clear()
    try:
        assert not torch_internals.onednn_bfloat16_supported()
        assert torch_internals.onednn_pack_linear_weight(th.randn(4, 4), 8) is None
        assert not onednn_linear_works(th.float32)
        assert negated_layers([(th.randn(8, 8), th.randn(8))], 4096).kernel in ("mm", "addmm")
        net, diffusion, state, noise = make_problem(16, 64)
        sampler = CandidateSampler("bfloat16")
        with pytest.warns(UserWarning, match="sampling in float32"):
            actions = sampler(net, diffusion, state, 64, noise)
        reference = sample_candidates_reference(net, diffusion, state, 64, noise)
        th.testing.assert_close(actions, reference, rtol=0, atol=1e-5)
    finally:
        onednn_linear_works.cache_clear()


@pytest.mark.expensive
def test_compiled_sampler_matches_reference():
    # A tiny denoiser and two steps keep the CPU compilation to a few seconds
    th.manual_seed(0)
    net = NoisePredictionNet(ACTION_DIM, STATE_DIM, [8])
    diffusion = GaussianDiffusion(2)
    state = th.randn(3, STATE_DIM)
    noise = draw_sampling_noise(2, 3 * 4, ACTION_DIM, th.device("cpu"))
    compiled = CandidateSampler(compile=True)(net, diffusion, state, 4, noise)
    th.testing.assert_close(compiled, sample_candidates_reference(net, diffusion, state, 4, noise), rtol=0, atol=1e-5)


@pytest.mark.parametrize("activation_fn", [nn.Mish, nn.ReLU])
def test_score_candidates_matches_critic(activation_fn):
    th.manual_seed(0)
    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Box(-2.0, 2.0, (1,), np.float32)
    policy = DiffusionPolicy(observation_space, action_space, lambda _: 1e-3, net_arch=[64, 64], activation_fn=activation_fn)
    obs = th.randn(8, 3)
    candidates = th.rand(8, 80, 1) * 2 - 1  # 8 * 80 * 64 elements: the fused path
    with th.no_grad():
        q_values = policy.critic(obs.repeat_interleave(80, dim=0), candidates.reshape(-1, 1))
    expected = th.cat(q_values, dim=1).min(dim=1).values.view(8, 80)
    for _ in range(2):  # buffers reused
        th.testing.assert_close(policy.score_candidates(policy.critic, obs, candidates), expected, rtol=0, atol=1e-5)
    features = policy.critic.extract_features(obs, policy.critic.features_extractor)
    for scorer in (FastScorer(), PlainScorer()):
        th.testing.assert_close(scorer(policy.critic.q_networks, features, candidates), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sampling_dtype="float16"), "'float16'"),
        (dict(sampling_dtype="bf16"), "'bf16'"),
        (dict(compile_sampler="yes"), "'yes'"),
        (dict(sampling_backend="reference"), "Unknown sampling_backend 'reference'"),
        (dict(sampling_backend="plain", sampling_dtype="bfloat16"), "sampling_backend='plain' samples in float32"),
    ],
)
def test_invalid_sampling_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QVPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8], **kwargs))


def test_sampling_options_survive_save_load(tmp_path):
    model = QVPO(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=20,
        batch_size=8,
        n_train_candidates=4,
        n_diffusion_steps=3,
        policy_kwargs=dict(net_arch=[8], sampling_dtype="bfloat16"),
        seed=0,
    )
    model.learn(30)
    model.save(tmp_path / "model.zip")
    loaded = QVPO.load(tmp_path / "model.zip")
    assert loaded.policy.sampling_dtype == "bfloat16"
    assert loaded.policy.compile_sampler is False
    assert loaded.actor.sampler.dtype_name == "bfloat16"
    assert loaded.actor_target.sampler.dtype_name == "bfloat16"
    obs = model.env.observation_space.sample()[None]
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
