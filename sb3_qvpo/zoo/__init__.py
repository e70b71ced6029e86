"""
rl-zoo3 integration of QVPO: ``python -m sb3_qvpo.zoo train|enjoy|record_video|plot_train|all_plots ...``
(or ``qvpo-zoo ...``) runs rl-zoo3 with QVPO registered and the shipped hyperparameters.
"""

from sb3_qvpo.zoo.registration import ALGO_NAME, DEFAULT_CONFIG, QVPOExperimentManager, register_qvpo
from sb3_qvpo.zoo.sampler import convert_qvpo_params, sample_qvpo_params

__all__ = [
    "ALGO_NAME",
    "DEFAULT_CONFIG",
    "QVPOExperimentManager",
    "convert_qvpo_params",
    "register_qvpo",
    "sample_qvpo_params",
]
