"""
Fast reverse-process sampling of many candidate actions per state. Pure PyTorch.

``CandidateSampler`` computes the same actions as ``PlainSampler``, the straightforward loop
(``GaussianDiffusion.sample`` with ``NoisePredictionNet.forward``; same noise, float32 rounding
aside), but:

- runs without autograd;
- splits the denoiser's first layer ``W [x_t, emb(t), s] + b`` into ``W_x x_t + (W_s s + W_t emb(t) + b)``:
  the conditioning term is computed once per state and step, not once per candidate, and the
  time MLP runs on the T distinct steps only;
- denoises all candidates of all states as one batch, with the state term broadcast over the
  candidates of each state (``baddbmm``);
- writes the hidden layers into preallocated buffers and uses the three-pass Mish of ``kernels.py``;
  the hidden-to-hidden products go through the kernel that a fixed rule of device, dtype and shape picks
  (oneDNN with packed weights, ``mm`` or ``addmm``; ``kernels.hidden_product_kernel``).

Options: ``dtype="bfloat16"`` runs the denoiser in bfloat16 (the reverse-step arithmetic stays
in float32); ``compile=True`` runs the loop through ``torch.compile`` (on CUDA with CUDA graphs).
"""

import warnings
from collections.abc import Callable

import torch as th
from torch import nn

from sb3_qvpo.diffusion import GaussianDiffusion, ReverseSchedule, StepConstants, run_reverse_process
from sb3_qvpo.fast.kernels import Workspace, hidden_stack, linear_parameters, negated_layers, use_fused_mish
from sb3_qvpo.fast.torch_internals import onednn_bfloat16_supported
from sb3_qvpo.networks import NoisePredictionNet, sinusoidal_embedding

SAMPLING_DTYPES = {"float32": th.float32, "bfloat16": th.bfloat16}


def draw_sampling_noise(
    n_steps: int, n_samples: int, action_dim: int, device: th.device, generator: th.Generator | None = None
) -> th.Tensor:
    """
    All the Gaussian noise one reverse-process run consumes.

    :param n_steps: S, the reverse steps of the run
    :return: shape (S + 1, n_samples, A): index S is x_T, index i the z of reverse step i
    """
    return th.randn(n_steps + 1, n_samples, action_dim, device=device, generator=generator)


def check_noise(noise: th.Tensor, n_steps: int, n_samples: int, action_dim: int) -> None:
    """Refuse sampling noise whose shape is not (S + 1, B * K, A)."""
    expected_shape = (n_steps + 1, n_samples, action_dim)
    if tuple(noise.shape) != expected_shape:
        raise ValueError(f"Sampling noise must have shape {expected_shape}, got {tuple(noise.shape)}")


def bfloat16_supported(device: th.device) -> bool:
    """Whether bfloat16 matrix products are fast on ``device`` (AVX-512 BF16 / AMX on CPU, Ampere+ on CUDA)."""
    if device.type == "cuda":
        return th.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return onednn_bfloat16_supported()
    return False


def check_sampling_dtype(name: str) -> th.dtype:
    """:return: the torch dtype of a ``sampling_dtype`` name; a ValueError names a bad one"""
    if name not in SAMPLING_DTYPES:
        raise ValueError(f"Unknown sampling_dtype {name!r}: choose one of {tuple(SAMPLING_DTYPES)}")
    return SAMPLING_DTYPES[name]


def denoise_functional(
    x_last: th.Tensor,
    noise: th.Tensor,
    cond: th.Tensor,
    w_x_t: th.Tensor,
    layers: list[tuple[th.Tensor, th.Tensor]],
    output: tuple[th.Tensor, th.Tensor],
    activation: nn.Module,
    constants: StepConstants,
) -> th.Tensor:
    """
    The reverse loop without buffers or in-place tricks on inputs: the form ``torch.compile`` gets.

    :param x_last: x_T, shape (B, K, A), float32
    :param noise: shape (S + 1, B * K, A)
    :param cond: conditioning terms in the compute dtype, shape (S, B, H)
    :param w_x_t: ``W_x^T`` in the compute dtype, shape (A, H)
    :return: actions in [-1, 1], shape (B * K, A)
    """
    n_states, n_candidates, action_dim = x_last.shape

    def predict_noise(x: th.Tensor, t: int) -> th.Tensor:
        pre = th.matmul(x.to(w_x_t.dtype).view(n_states, n_candidates, action_dim), w_x_t) + cond[t].unsqueeze(1)
        h = activation(pre.view(n_states * n_candidates, -1))
        for weight, bias in layers:
            h = activation(th.addmm(bias, h, weight.t()))
        return th.addmm(output[1], h, output[0].t())

    return run_reverse_process(x_last.reshape(n_states * n_candidates, action_dim), noise, constants, predict_noise)


class CandidateSampler:
    """
    Draws K actions per state from a diffusion policy, reusing its buffers across calls.

    :param dtype: ``"float32"`` (exact, the default) or ``"bfloat16"`` (denoiser in bfloat16 where the
        device has fast bfloat16 matrix products; falls back to float32 with a warning elsewhere)
    :param compile: run the loop through ``torch.compile`` (mode ``"reduce-overhead"``, i.e. CUDA graphs,
        on CUDA). The first call for each batch size compiles (tens of seconds on CPU).
    """

    def __init__(self, dtype: str = "float32", compile: bool = False):
        self.dtype_name = dtype
        self.dtype = check_sampling_dtype(dtype)
        self.compile = compile
        self.workspace = Workspace()
        self._constants: StepConstants | None = None
        self._embeddings: dict[tuple[tuple[int, ...], int, th.device], th.Tensor] = {}
        self._compiled: dict[str, Callable[..., th.Tensor]] = {}
        self._checked_devices: dict[th.device, th.dtype] = {}

    def compute_dtype(self, device: th.device) -> th.dtype:
        """The dtype the denoiser runs in on ``device``: the requested one, or float32 if bfloat16 is not fast there."""
        if device not in self._checked_devices:
            dtype = self.dtype
            if dtype == th.bfloat16 and not bfloat16_supported(device):
                warnings.warn(
                    f"sampling_dtype='bfloat16' requested, but {device} has no fast bfloat16 matrix products "
                    "(CPU: AVX-512 BF16 or AMX; CUDA: compute capability 8.0+): sampling in float32 instead"
                )
                dtype = th.float32
            self._checked_devices[device] = dtype
        return self._checked_devices[device]

    def step_embedding(self, timesteps: tuple[int, ...], time_dim: int, device: th.device) -> th.Tensor:
        """Sinusoidal embedding of the visited steps (a constant), shape (S, time_dim)."""
        key = (timesteps, time_dim, device)
        if key not in self._embeddings:
            self._embeddings[key] = sinusoidal_embedding(th.tensor(timesteps, device=device), time_dim)
        return self._embeddings[key]

    def __call__(
        self,
        noise_net: NoisePredictionNet,
        diffusion: GaussianDiffusion,
        state: th.Tensor,
        n_candidates: int,
        noise: th.Tensor | None = None,
        schedule: ReverseSchedule | None = None,
    ) -> th.Tensor:
        """
        :param noise_net: the denoiser eps_theta
        :param diffusion: the DDPM schedule
        :param state: state features, shape (B, S)
        :param n_candidates: K, actions per state
        :param noise: optional noise of shape (S + 1, B * K, A), candidates of one state contiguous;
            drawn from the global generator when omitted
        :param schedule: the reverse process (default: DDPM's, ``diffusion.reverse_schedule()``)
        :return: actions in [-1, 1], shape (B, K, A)
        """
        n_states = state.shape[0]
        n_samples = n_states * n_candidates
        action_dim = noise_net.action_dim
        schedule = diffusion.reverse_schedule() if schedule is None else schedule
        if noise is None:
            noise = draw_sampling_noise(schedule.n_steps, n_samples, action_dim, state.device)
        check_noise(noise, schedule.n_steps, n_samples, action_dim)
        dtype = self.compute_dtype(state.device)
        constants = schedule.step_constants

        with th.no_grad():
            embedding = self.step_embedding(schedule.timesteps, noise_net.time_dim, state.device)
            w_x_t, cond = noise_net.split_first_layer(state, embedding)
            layers = [linear_parameters(layer) for layer in list(noise_net.hidden)[1:]]
            output = linear_parameters(noise_net.output)
            if dtype != th.float32:
                w_x_t, cond = w_x_t.to(dtype), cond.to(dtype)
                layers = [(weight.to(dtype), bias.to(dtype)) for weight, bias in layers]
                output = (output[0].to(dtype), output[1].to(dtype))
            x_last = noise[schedule.n_steps].view(n_states, n_candidates, action_dim)
            if self.compile:
                actions = self._compiled_loop(state.device)(
                    x_last, noise, cond, w_x_t, layers, output, noise_net.activation, constants
                ).clone()
            else:
                actions = self._denoise(x_last, noise, cond, w_x_t, layers, output, noise_net.activation, constants)
        return actions.view(n_states, n_candidates, action_dim)

    def _compiled_loop(self, device: th.device) -> Callable[..., th.Tensor]:
        if device.type not in self._compiled:
            mode = "reduce-overhead" if device.type == "cuda" else None
            self._compiled[device.type] = th.compile(denoise_functional, mode=mode)
        if device.type == "cuda":
            # Each call is a new step for the CUDA-graph trees: outputs of the last call are not reused
            th.compiler.cudagraph_mark_step_begin()
        return self._compiled[device.type]

    def _denoise(
        self,
        x_last: th.Tensor,
        noise: th.Tensor,
        cond: th.Tensor,
        w_x_t: th.Tensor,
        layers: list[tuple[th.Tensor, th.Tensor]],
        output: tuple[th.Tensor, th.Tensor],
        activation: nn.Module,
        constants: StepConstants,
    ) -> th.Tensor:
        """Eager loop on preallocated buffers; arguments as in ``denoise_functional``."""
        n_states, n_candidates, action_dim = x_last.shape
        n_samples, hidden_dim = n_states * n_candidates, cond.shape[2]
        negated = use_fused_mish(activation, n_samples * hidden_dim)
        prepared = None
        if negated:
            cond = -cond
            prepared = negated_layers(layers, n_samples)
        device, dtype = cond.device, cond.dtype
        pre_buffer = self.workspace.get("pre", (n_samples, hidden_dim), dtype, device)
        act_buffer = self.workspace.get("act", (n_samples, hidden_dim), dtype, device)
        w_x_batched = w_x_t.expand(n_states, action_dim, hidden_dim)
        sign = -1.0 if negated else 1.0

        def predict_noise(x: th.Tensor, t: int) -> th.Tensor:
            x_in = x if dtype == x.dtype else x.to(dtype)
            if n_states == 1:  # acting in one environment: a plain product is cheaper than a batched one
                pre = th.addmm(cond[t, 0], x_in, w_x_t, alpha=sign, out=pre_buffer)
            else:
                pre = th.baddbmm(
                    cond[t].unsqueeze(1),
                    x_in.view(n_states, n_candidates, action_dim),
                    w_x_batched,
                    alpha=sign,
                    out=pre_buffer.view(n_states, n_candidates, hidden_dim),
                ).view(n_samples, hidden_dim)
            return hidden_stack(pre, layers, output, activation, negated, (pre_buffer, act_buffer), prepared)

        return run_reverse_process(x_last.reshape(n_samples, action_dim), noise, constants, predict_noise)


class PlainSampler:
    """
    The straightforward sampler, the reference of ``CandidateSampler`` with the same interface: the state
    repeated for every candidate, the whole denoiser (time MLP included) on ``[x_t, emb(t), s]`` at every
    step, through the plain loop ``GaussianDiffusion.sample``. Float32 only.
    """

    def __call__(
        self,
        noise_net: NoisePredictionNet,
        diffusion: GaussianDiffusion,
        state: th.Tensor,
        n_candidates: int,
        noise: th.Tensor | None = None,
        schedule: ReverseSchedule | None = None,
    ) -> th.Tensor:
        """Arguments and result as in ``CandidateSampler.__call__``."""
        schedule = diffusion.reverse_schedule() if schedule is None else schedule
        n_samples = state.shape[0] * n_candidates
        if noise is None:
            noise = draw_sampling_noise(schedule.n_steps, n_samples, noise_net.action_dim, state.device)
        check_noise(noise, schedule.n_steps, n_samples, noise_net.action_dim)
        with th.no_grad():
            states = state.repeat_interleave(n_candidates, dim=0)

            def noise_fn(x_t: th.Tensor, t: int) -> th.Tensor:
                return noise_net(x_t, th.full((n_samples,), t, device=state.device, dtype=th.long), states)

            return diffusion.sample(noise_fn, noise, schedule).view(state.shape[0], n_candidates, -1)
