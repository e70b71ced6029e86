"""
Speed of one QVPO update and one behaviour action at the paper's defaults, against a
straightforward reference implementation and SB3's SAC measured in the same run.

    PYTHONPATH=. python examples/benchmark_speed.py                      # Hopper-v5 and Humanoid-v5
    PYTHONPATH=. python examples/benchmark_speed.py --compile            # also torch.compile (slow start)
    PYTHONPATH=. python examples/benchmark_speed.py --memory             # peak RSS, 1M-step buffer on Hopper

The reference update is the whole QVPO update with the plain sampler (``sample_candidates_reference``:
``[x_t, emb(t), s]`` through the whole denoiser, time MLP included, at every step; no autograd)
and the plain critic scoring (states repeated for every candidate). Times are medians after warm-up.
"""

import argparse
import contextlib
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.logger import Logger

import sb3_qvpo.policies
import sb3_qvpo.qvpo
from sb3_qvpo import QVPO
from sb3_qvpo.fused import negated_linear, pack_negated
from sb3_qvpo.policies import DiffusionActor, repeat_observation
from sb3_qvpo.sampling import draw_sampling_noise, sample_candidates_reference

HIDDEN, N_LAYERS, N_STEPS, N_TRAIN, N_TARGET, BATCH, N_UNIFORM = 256, 3, 20, 64, 4, 256, 10


def median_ms(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def update_gflop(obs_dim: int, action_dim: int) -> float:
    """Matrix-product FLOPs of one update as the fast path does it (first layers split, no repeats)."""
    h, deep = HIDDEN, (N_LAYERS - 1) * HIDDEN * HIDDEN

    def mlp(n_rows: int, first_in: int, out: int) -> float:  # multiply-adds of one forward pass
        return n_rows * (first_in * h + deep + h * out)

    candidates, targets = BATCH * N_TRAIN, BATCH * N_TARGET
    sampling = N_STEPS * (mlp(candidates, action_dim, action_dim) + mlp(targets, action_dim, action_dim))
    scoring = 2 * (mlp(candidates, action_dim, 1) + mlp(targets, action_dim, 1))
    critic_step = 3 * 2 * mlp(BATCH, obs_dim + action_dim, 1)  # forward + backward
    actor_step = 3 * mlp(BATCH * (1 + N_UNIFORM), obs_dim + action_dim + 32, action_dim)
    return 2 * (sampling + scoring + critic_step + actor_step) / 1e9


def matmul_gflops(dtype: th.dtype, repeats: int, packed: bool = False) -> float:
    """GFLOP/s of one 16384 x 256 x 256 product: ``addmm``, or oneDNN with packed weights as the fast path runs it."""
    x, w = th.randn(BATCH * N_TRAIN, HIDDEN, dtype=dtype), th.randn(HIDDEN, HIDDEN, dtype=dtype)
    bias, out = th.randn(HIDDEN, dtype=dtype), th.empty(BATCH * N_TRAIN, HIDDEN, dtype=dtype)
    if packed:
        layer = pack_negated([(w, bias)], x.shape[0])
        if layer is None:
            return float("nan")
        ms = median_ms(lambda: negated_linear(x, layer[0], True, out), repeats, 3)
    else:
        ms = median_ms(lambda: th.addmm(bias, x, w.t(), out=out), repeats, 3)
    return 2 * x.shape[0] * HIDDEN * HIDDEN / ms / 1e6


def plain_score_candidates(critic, obs, candidates, workspace=None) -> th.Tensor:
    n_states, n_candidates, action_dim = candidates.shape
    q_values = critic(repeat_observation(obs, n_candidates), candidates.reshape(-1, action_dim))
    return th.cat(q_values, dim=1).min(dim=1).values.view(n_states, n_candidates)


def plain_sample(actor: DiffusionActor, obs, n_candidates: int, noise=None) -> th.Tensor:
    with th.no_grad():
        features = actor.extract_features(obs, actor.features_extractor)
        if noise is None:
            noise = draw_sampling_noise(
                actor.n_diffusion_steps, len(features) * n_candidates, actor.action_dim, features.device
            )
        return sample_candidates_reference(actor.noise_net, actor.diffusion, features, n_candidates, noise)


@contextlib.contextmanager
def reference_implementation(model: QVPO) -> Iterator[None]:
    """Swap in the straightforward sampler and critic scoring for the duration."""
    saved = sb3_qvpo.policies.score_candidates, sb3_qvpo.qvpo.score_candidates
    sb3_qvpo.policies.score_candidates = sb3_qvpo.qvpo.score_candidates = plain_score_candidates  # type: ignore[assignment]
    for actor in (model.actor, model.actor_target):
        actor.sample = lambda obs, n, noise=None, actor=actor: plain_sample(actor, obs, n, noise)  # type: ignore[method-assign]
    try:
        yield
    finally:
        sb3_qvpo.policies.score_candidates, sb3_qvpo.qvpo.score_candidates = saved
        for actor in (model.actor, model.actor_target):
            del actor.sample


def filled_model(algo, env_id: str, device: str, **kwargs):
    env = gym.make(env_id)
    model = algo("MlpPolicy", env, buffer_size=10_000, learning_starts=0, seed=0, device=device, **kwargs)
    model.set_logger(Logger(folder=None, output_formats=[]))
    rng = np.random.default_rng(0)
    obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
    for _ in range(2_000):
        model.replay_buffer.add(
            rng.standard_normal((1, *obs_shape)).astype(np.float32),
            rng.standard_normal((1, *obs_shape)).astype(np.float32),
            rng.uniform(-1, 1, (1, *act_shape)).astype(np.float32),
            rng.standard_normal(1).astype(np.float32),
            np.zeros(1),
            [{}],
        )
    return model, env


def benchmark_env(env_id: str, args: argparse.Namespace, matmul: float) -> None:
    qvpo_kwargs = dict(policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS))
    model, env = filled_model(QVPO, env_id, args.device, **qvpo_kwargs)
    obs = env.observation_space.sample()
    gflop = update_gflop(env.observation_space.shape[0], env.action_space.shape[0])

    def update() -> None:
        model.train(1, BATCH)

    def act() -> None:
        model.predict(obs, deterministic=False)

    rows = []
    with reference_implementation(model):
        ref_update = median_ms(update, max(3, args.repeats // 2), 1)
        ref_act = median_ms(act, args.act_repeats, 10)
    rows.append(("reference fp32", ref_update, ref_act))
    rows.append(("fast fp32 (default)", median_ms(update, args.repeats, 2), median_ms(act, args.act_repeats, 10)))

    bf16, _ = filled_model(
        QVPO, env_id, args.device, policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS, sampling_dtype="bfloat16")
    )
    rows.append(("fast bf16", median_ms(lambda: bf16.train(1, BATCH), args.repeats, 2), float("nan")))

    if args.compile:
        compiled, _ = filled_model(
            QVPO, env_id, args.device, policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS, compile_sampler=True)
        )
        start = time.perf_counter()
        compiled.train(1, BATCH)
        print(f"{env_id}: compiled sampler, first update (compilation included): {time.perf_counter() - start:.1f} s")
        rows.append(("compiled fp32", median_ms(lambda: compiled.train(1, BATCH), args.repeats, 2), float("nan")))

    sac, _ = filled_model(SAC, env_id, args.device)
    sac_update = median_ms(lambda: sac.train(1, BATCH), args.act_repeats, 10)

    print(f"\n{env_id} (obs {env.observation_space.shape[0]}, act {env.action_space.shape[0]}), {gflop:.1f} GFLOP/update")
    print("| path | ms / update | updates / s | GFLOP/s | vs reference | ms / behaviour action |")
    print("|---|---|---|---|---|---|")
    for name, ms, act_ms in rows:
        print(f"| {name} | {ms:.0f} | {1e3 / ms:.2f} | {gflop / ms * 1e3:.0f} | {ref_update / ms:.2f}x | {act_ms:.2f} |")
    print(f"| SB3 SAC (for scale) | {sac_update:.1f} | {1e3 / sac_update:.0f} | | | |")
    print(f"matmul 16384x256x256 (addmm) in this run: {matmul:.0f} GFLOP/s fp32")


def memory(optimize_memory_usage: bool) -> None:
    """Peak RSS of QVPO on Hopper with a full 1M-transition replay buffer and a few updates."""
    env = gym.make("Hopper-v5")
    model = QVPO(
        "MlpPolicy",
        env,
        buffer_size=1_000_000,
        learning_starts=100,
        optimize_memory_usage=optimize_memory_usage,
        # SB3's memory-optimised buffer cannot tell timeouts apart: they become terminal there
        replay_buffer_kwargs=dict(handle_timeout_termination=not optimize_memory_usage),
        seed=0,
    )
    buffer = model.replay_buffer
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        array = getattr(buffer, name, None)
        if array is not None:
            array.fill(0.1)  # touch every page, as a full buffer does
    buffer.full = True
    model.learn(110)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| optimize_memory_usage={optimize_memory_usage} | {peak_mib:.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["Hopper-v5", "Humanoid-v5"])
    parser.add_argument("--repeats", type=int, default=7, help="timed updates per path")
    parser.add_argument("--act-repeats", type=int, default=200, help="timed behaviour actions per path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="also time compile_sampler=True (tens of seconds to start)")
    parser.add_argument("--memory", action="store_true", help="peak RSS with a full 1M buffer on Hopper, in subprocesses")
    parser.add_argument("--memory-child", choices=["plain", "optimized"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    th.set_num_threads(args.threads)

    if args.memory_child:
        memory(args.memory_child == "optimized")
        return
    if args.memory:
        print("| Hopper-v5, 1M-transition buffer, full | peak RSS |\n|---|---|")
        for child in ("plain", "optimized"):
            subprocess.run([sys.executable, __file__, "--memory-child", child, "--threads", str(args.threads)], check=True)
        return

    print(f"torch {th.__version__}, {th.get_num_threads()} threads, device {args.device}")
    matmul = matmul_gflops(th.float32, 20)
    print(
        f"matmul 16384x256x256, addmm: {matmul:.0f} GFLOP/s fp32, {matmul_gflops(th.bfloat16, 20):.0f} GFLOP/s bf16; "
        f"oneDNN packed: {matmul_gflops(th.float32, 20, True):.0f} GFLOP/s fp32, "
        f"{matmul_gflops(th.bfloat16, 20, True):.0f} GFLOP/s bf16"
    )
    for env_id in args.envs:
        benchmark_env(env_id, args, matmul)


if __name__ == "__main__":
    main()
