"""
Speed of one QVPO update and one behaviour action at the paper's defaults, against a
straightforward reference implementation and SB3's SAC measured in the same run.

    PYTHONPATH=. python benchmarks/speed.py                      # Hopper-v5 and Humanoid-v5
    PYTHONPATH=. python benchmarks/speed.py --compile            # also torch.compile (slow start)
    PYTHONPATH=. python benchmarks/speed.py --sampling-steps 5 10 # also DDIM with S = 5 and 10 of T = 20
    PYTHONPATH=. python benchmarks/speed.py --memory             # peak RSS, 1M-step buffer on Hopper

The reference update is the whole QVPO update with the plain backend (``sampling_backend="plain"``: the
plain sampler and critic scoring of ``sb3_qvpo/fast/``: ``[x_t, emb(t), s]`` through the whole denoiser, time
MLP included, at every step; states repeated for every candidate; no autograd). Times are medians after warm-up.
"""

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch as th
from cpu_info import cpuinfo_fields  # benchmarks/cpu_info.py
from stable_baselines3 import SAC
from stable_baselines3.common.logger import Logger

from sb3_qvpo import QVPO
from sb3_qvpo.fast.kernels import hidden_product_kernel, negated_linear, prepare_negated

HIDDEN, N_LAYERS, N_STEPS, N_TRAIN, N_TARGET, BATCH, N_UNIFORM, N_BEHAVIOUR = 256, 3, 20, 64, 4, 256, 10, 4


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


PRODUCT_KERNELS = ("mm", "mm, transposed view", "addmm", "matmul", "oneDNN packed")


def product_gflops(kernel: str, dtype: th.dtype, repeats: int) -> float:
    """
    GFLOP/s of one 16384 x 256 x 256 product (the update's hidden-layer shape) through one kernel:
    ``mm`` with the weight stored transposed, ``mm`` on a transposed view, ``addmm`` with bias into a
    buffer, ``matmul``, or oneDNN with packed weights as the fast path runs it. NaN where a kernel is unavailable.
    """
    x, w = th.randn(BATCH * N_TRAIN, HIDDEN, dtype=dtype), th.randn(HIDDEN, HIDDEN, dtype=dtype)
    bias, out = th.randn(HIDDEN, dtype=dtype), th.empty(BATCH * N_TRAIN, HIDDEN, dtype=dtype)
    w_t = w.t().contiguous()
    if kernel == "oneDNN packed":
        layer = prepare_negated("onednn_packed", w, bias, x.shape[0])
        if layer is None:
            return float("nan")
        run: Callable[[], object] = lambda: negated_linear(x, layer, "onednn_packed", out)  # noqa: E731
    else:
        run = {
            "mm": lambda: th.mm(x, w_t, out=out),
            "mm, transposed view": lambda: th.mm(x, w.t(), out=out),
            "addmm": lambda: th.addmm(bias, x, w.t(), out=out),
            "matmul": lambda: th.matmul(x, w_t),
        }[kernel]
    ms = median_ms(run, repeats, 3)
    return 2 * x.shape[0] * HIDDEN * HIDDEN / ms / 1e6


def cpu_description() -> dict[str, str]:
    """Model, vendor, family and the vector flags that set the peak, from /proc/cpuinfo (Linux)."""
    keep = ("model name", "vendor_id", "cpu family", "model", "cpu MHz", "flags")
    info = {key: value for key, value in cpuinfo_fields().items() if key in keep}
    try:  # the highest clock the kernel reports, where it does (not in every VM)
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as max_freq:
            info["max MHz"] = str(int(max_freq.read()) / 1000)
    except (OSError, ValueError):
        pass
    flags = set(info.get("flags", "").split())
    info["vector flags"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)
    return info


def peak_flop_per_cycle(info: dict[str, str]) -> tuple[float, float, str]:
    """
    fp32 and bf16 FLOP per cycle per core this CPU can issue, from its vector flags and vendor: two FMA
    pipes of the datapath width (512 bits with AVX-512 on Intel and on AMD from family 26, Zen 5; 256 bits
    with AVX-512 on AMD family 25, Zen 4, which splits 512-bit operations; 256 with AVX2 and FMA), two FLOP
    per FMA lane; bfloat16 dot products (AVX-512 BF16) do twice the fp32 lanes. AMX is not modelled.
    """
    flags = set(info.get("vector flags", "").split())
    amd_full_width = info.get("vendor_id") == "AuthenticAMD" and int(info.get("cpu family", "0") or 0) >= 26
    if "avx512f" in flags and (info.get("vendor_id") == "GenuineIntel" or amd_full_width):
        width, why = 512, "two 512-bit FMA pipes"
    elif "avx2" in flags and "fma" in flags:
        width, why = 256, "two 256-bit FMA pipes" + (" (AVX-512 split in two halves)" if "avx512f" in flags else "")
    else:
        width, why = 128, "two 128-bit pipes (no FMA flags seen)"
    fp32 = 2 * (width / 32) * 2
    bf16 = 2 * fp32 if "avx512_bf16" in flags else fp32
    return fp32, bf16, why


def elementwise_ns(dtype: th.dtype, repeats: int) -> float:
    """Nanoseconds per element of one elementwise pass (``sigmoid`` into a buffer) over a 16384 x 256 tensor."""
    x = th.randn(BATCH * N_TRAIN, HIDDEN, dtype=dtype)
    out = th.empty_like(x)
    return 1e6 * median_ms(lambda: th.sigmoid(x, out=out), repeats, 3) / x.numel()


def update_activations() -> float:
    """Hidden activations one update computes (sampling, scoring, critic and actor steps), as ``update_gflop`` counts."""
    candidates, targets = BATCH * N_TRAIN, BATCH * N_TARGET
    per_row = N_LAYERS * HIDDEN
    sampling = N_STEPS * (candidates + targets)
    scoring = 2 * (candidates + targets)
    steps = 3 * 2 * BATCH + 3 * BATCH * (1 + N_UNIFORM)  # forward + backward of the critic and actor steps
    return float(per_row * (sampling + scoring + steps))


def update_floor_ms(gflop: float, product_gflops: float, ns_per_element: float) -> float:
    """
    The least an update can take here: its matrix products at the best rate measured for a 16384 x 256 x 256
    product, plus one elementwise pass (the least an activation costs) over every hidden activation.
    """
    return gflop / product_gflops * 1e3 + update_activations() * ns_per_element / 1e6


def single_op_us(fn: Callable[[], object]) -> float:
    return 1e3 * median_ms(fn, 2000, 50)


def behaviour_floor_ms(obs_dim: int, action_dim: int, n_candidates: int) -> float:
    """
    The least an eager behaviour action can take here: each operation it cannot avoid, timed alone in a tight
    loop at its real shape and summed. Per denoising step: the first-layer product on the candidates, the
    hidden products, the output product, one Mish per hidden layer and one pass of reverse-step arithmetic;
    then the twin critics on the candidates (products and Mish).
    """
    x_a, out = th.randn(n_candidates, action_dim), th.empty(n_candidates, HIDDEN)
    h, w, bias = th.randn(n_candidates, HIDDEN), th.randn(HIDDEN, HIDDEN), th.randn(HIDDEN)
    w_in, w_out, b_out = th.randn(action_dim, HIDDEN), th.randn(HIDDEN, action_dim), th.randn(action_dim)
    w_q_in, w_q_out, b_q = th.randn(obs_dim + action_dim, HIDDEN), th.randn(HIDDEN, 1), th.randn(1)
    x_q = th.randn(n_candidates, obs_dim + action_dim)
    first = single_op_us(lambda: th.addmm(bias, x_a, w_in, out=out))
    hidden = single_op_us(lambda: th.addmm(bias, h, w.t(), out=out))
    output = single_op_us(lambda: th.addmm(b_out, h, w_out))
    mish = single_op_us(lambda: th.nn.functional.mish(h))
    arithmetic = single_op_us(lambda: th.add(x_a, x_a, alpha=0.5))
    q_first = single_op_us(lambda: th.addmm(bias, x_q, w_q_in, out=out))
    q_output = single_op_us(lambda: th.addmm(b_q, h, w_q_out))
    per_step = first + (N_LAYERS - 1) * hidden + output + N_LAYERS * mish + arithmetic
    critics = 2 * (q_first + (N_LAYERS - 1) * hidden + q_output + N_LAYERS * mish)
    return (N_STEPS * per_step + critics) / 1e3


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


def benchmark_env(env_id: str, args: argparse.Namespace, rates: dict[str, float]) -> None:
    qvpo_kwargs = dict(policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS))
    model, env = filled_model(QVPO, env_id, args.device, **qvpo_kwargs)
    obs = env.observation_space.sample()
    gflop = update_gflop(env.observation_space.shape[0], env.action_space.shape[0])

    def update() -> None:
        model.train(1, BATCH)

    def act() -> None:
        model.predict(obs, deterministic=False)

    rows = []
    model.sampling_backend = "plain"  # the straightforward computation: the reference
    ref_update = median_ms(update, max(3, args.repeats // 2), 1)
    ref_act = median_ms(act, args.act_repeats, 10)
    model.sampling_backend = "fast"
    rows.append(("reference fp32", ref_update, ref_act))
    rows.append(("fast fp32 (default)", median_ms(update, args.repeats, 2), median_ms(act, args.act_repeats, 10)))

    bf16, _ = filled_model(
        QVPO, env_id, args.device, policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS, sampling_dtype="bfloat16")
    )
    rows.append(("fast bf16", median_ms(lambda: bf16.train(1, BATCH), args.repeats, 2), float("nan")))

    for n_sampling_steps in args.sampling_steps:
        ddim, _ = filled_model(
            QVPO, env_id, args.device, policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS, n_sampling_steps=n_sampling_steps)
        )
        rows.append(
            (
                f"fast fp32, DDIM S = {n_sampling_steps}",
                median_ms(lambda model=ddim: model.train(1, BATCH), args.repeats, 2),
                median_ms(lambda model=ddim: model.predict(obs, deterministic=False), args.act_repeats, 10),
            )
        )

    if args.compile:
        compiled, _ = filled_model(
            QVPO, env_id, args.device, policy_kwargs=dict(net_arch=[HIDDEN] * N_LAYERS, compile_sampler=True)
        )
        start = time.perf_counter()
        compiled.train(1, BATCH)
        print(f"{env_id}: compiled sampler, first update (compilation included): {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        compiled.predict(obs, deterministic=False)
        print(
            f"{env_id}: compiled sampler, first behaviour action (compilation included): {time.perf_counter() - start:.1f} s"
        )
        rows.append(
            (
                "compiled fp32",
                median_ms(lambda: compiled.train(1, BATCH), args.repeats, 2),
                median_ms(lambda: compiled.predict(obs, deterministic=False), args.act_repeats, 10),
            )
        )

    sac, _ = filled_model(SAC, env_id, args.device)
    sac_update = median_ms(lambda: sac.train(1, BATCH), args.act_repeats, 10)

    print(f"\n{env_id} (obs {env.observation_space.shape[0]}, act {env.action_space.shape[0]}), {gflop:.1f} GFLOP/update")
    print("| path | ms / update | updates / s | GFLOP/s | vs reference | ms / behaviour action |")
    print("|---|---|---|---|---|---|")
    for name, ms, act_ms in rows:
        print(f"| {name} | {ms:.0f} | {1e3 / ms:.2f} | {gflop / ms * 1e3:.0f} | {ref_update / ms:.2f}x | {act_ms:.2f} |")
    print(f"| SB3 SAC (for scale) | {sac_update:.1f} | {1e3 / sac_update:.0f} | | | |")

    if args.device != "cpu":  # the floors time CPU operations
        return
    print("\nFloors (what the hardware allows, from the operations measured alone in this run):")
    measured = {"fp32": rows[1][1], "bf16": rows[2][1]}
    for dtype in ("fp32", "bf16"):
        product_rate = rates[f"best {dtype}"]
        floor = update_floor_ms(gflop, product_rate, rates[f"elementwise {dtype}"])
        print(
            f"- update, {dtype}: {floor:.0f} ms ({gflop:.1f} GFLOP at {product_rate:.0f} GFLOP/s, the best product rate, "
            f"+ one elementwise pass over {update_activations() / 1e9:.2f} G activations at "
            f"{rates[f'elementwise {dtype}']:.2f} ns each): at best {ref_update / floor:.2f}x the reference"
        )
        if measured[dtype] < floor:
            print(f"  NOTE: the fast {dtype} update ({measured[dtype]:.0f} ms) beat this floor: a faster kernel exists")
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    act_floor = behaviour_floor_ms(obs_dim, action_dim, N_BEHAVIOUR)
    print(
        f"- behaviour action (eager): {act_floor:.2f} ms, the sum of the {N_STEPS * (2 * N_LAYERS + 2)} + "
        f"{2 * (2 * N_LAYERS + 1)} operations it needs ({N_STEPS} denoising steps, twin critics), each timed alone"
    )


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
    parser.add_argument(
        "--sampling-steps", nargs="*", type=int, default=[], metavar="S", help="also time DDIM sampling with S < T steps"
    )
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
    rates = {f"elementwise {name}": elementwise_ns(dtype, 20) for name, dtype in (("fp32", th.float32), ("bf16", th.bfloat16))}
    if args.device == "cpu":
        rates.update(describe_cpu_and_time_products(args.threads))
    for env_id in args.envs:
        benchmark_env(env_id, args, rates)


def describe_cpu_and_time_products(threads: int) -> dict[str, float]:
    """Print the CPU, its peak and every product kernel's rate; return the best rate per dtype."""
    info = cpu_description()
    fp32_peak, bf16_peak, why = peak_flop_per_cycle(info)
    mhz = float(info.get("max MHz") or info.get("cpu MHz") or "nan")
    print(
        f"CPU: {info.get('model name', 'unknown')} ({info.get('vendor_id', '?')}, family {info.get('cpu family', '?')}, "
        f"model {info.get('model', '?')}); vector flags: {info.get('vector flags') or 'none seen'}; "
        f"{'max' if 'max MHz' in info else 'reported'} clock {mhz:.0f} MHz"
    )
    best = {}
    print("| kernel, 16384 x 256 x 256 | GFLOP/s fp32 | GFLOP/s bf16 |\n|---|---|---|")
    for kernel in PRODUCT_KERNELS:
        row = {name: product_gflops(kernel, dtype, 20) for name, dtype in (("fp32", th.float32), ("bf16", th.bfloat16))}
        for name, rate in row.items():
            if rate == rate and rate > best.get(name, 0.0):
                best[name] = rate
        print(f"| {kernel} | {row['fp32']:.0f} | {row['bf16']:.0f} |")
    for name, per_cycle in (("fp32", fp32_peak), ("bf16", bf16_peak)):
        peak = per_cycle * threads * mhz / 1e3
        implied_ghz = best[name] / (per_cycle * threads)
        print(
            f"peak {name}: {per_cycle:.0f} FLOP/cycle/core ({why}) x {threads} threads x {mhz / 1e3:.2f} GHz = {peak:.0f} "
            f"GFLOP/s; the best kernel's {best[name]:.0f} GFLOP/s implies {implied_ghz:.2f} GHz at that peak per cycle"
        )
    chosen = {
        name: hidden_product_kernel(th.device("cpu"), dtype, BATCH * N_TRAIN, HIDDEN, HIDDEN)
        for name, dtype in (("fp32", th.float32), ("bf16", th.bfloat16))
    }
    print(f"the sampler's kernel rule picks, at this shape: fp32 {chosen['fp32']}, bf16 {chosen['bf16']}")
    return {f"best {name}": rate for name, rate in best.items()}


if __name__ == "__main__":
    main()
