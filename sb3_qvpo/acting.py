"""
How a trained diffusion policy draws its actions: settings that change nothing of what was trained, so that a
model trained one way may act another (fewer DDIM steps, bfloat16, more candidates), live or at load time.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_qvpo.checks import check_positive_count
from sb3_qvpo.diffusion import check_eta, sampling_timesteps
from sb3_qvpo.fast import check_backend
from sb3_qvpo.fast.sampler import check_sampling_dtype


@dataclass(frozen=True)
class ActingSettings:
    """
    The acting settings of a :class:`~sb3_qvpo.policies.DiffusionPolicy` (one record, owned by the policy).

    :param n_behavior_candidates: K_b, candidates of the exploration policy (``predict(deterministic=False)``)
    :param n_eval_candidates: K_eval, candidates of ``predict(deterministic=True)``
    :param n_sampling_steps: S, reverse steps whenever actions are sampled: DDIM over S evenly spaced of the T
        trained steps; ``None`` is T, the paper's DDPM sampler
    :param sampling_eta: DDIM's eta, 0 (deterministic) to 1 (DDPM's noise)
    :param sampling_dtype: dtype of the denoiser while sampling: ``"float32"`` or ``"bfloat16"``
    :param compile_sampler: run the sampling loop through ``torch.compile``
    :param sampling_backend: how candidates are sampled and scored: ``"fast"`` (default) or ``"plain"``, the
        straightforward computation the fast one is held to (float32, eager; for checking and timing)
    """

    n_behavior_candidates: int = 4
    n_eval_candidates: int = 32
    n_sampling_steps: int | None = None
    sampling_eta: float = 1.0
    sampling_dtype: str = "float32"
    compile_sampler: bool = False
    sampling_backend: str = "fast"

    def checked(self, n_diffusion_steps: int) -> "ActingSettings":
        """These settings, after an error that names the first bad one (for a policy of T = ``n_diffusion_steps``)."""
        check_positive_count("n_behavior_candidates", self.n_behavior_candidates)
        check_positive_count("n_eval_candidates", self.n_eval_candidates)
        if self.n_sampling_steps is not None:
            if not isinstance(self.n_sampling_steps, (int, np.integer)) or isinstance(self.n_sampling_steps, bool):
                raise ValueError(f"n_sampling_steps must be an integer or None, got {self.n_sampling_steps!r}")
            sampling_timesteps(n_diffusion_steps, self.n_sampling_steps)  # refuses S outside 1..T
        check_eta(self.sampling_eta)
        check_sampling_dtype(self.sampling_dtype)
        if not isinstance(self.compile_sampler, bool):
            raise ValueError(f"compile_sampler must be True or False, got {self.compile_sampler!r}")
        check_backend(self.sampling_backend, self.sampling_dtype, self.compile_sampler)
        return self

    def replaced(self, n_diffusion_steps: int, **changes: Any) -> "ActingSettings":
        """A checked copy with ``changes``; a name that is not an acting setting is refused."""
        unknown = sorted(set(changes) - set(ACTING_SETTINGS))
        if unknown:
            raise ValueError(f"Unknown acting setting(s) {unknown}: choose among {list(ACTING_SETTINGS)}")
        return dataclasses.replace(self, **changes).checked(n_diffusion_steps)


ACTING_SETTINGS = tuple(field.name for field in dataclasses.fields(ActingSettings))
