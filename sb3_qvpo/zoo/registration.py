"""
Make QVPO an rl-zoo3 algorithm: add it to ``rl_zoo3``'s algorithm table, Optuna sampler and
converter, and give rl-zoo3's ``train`` an experiment manager that checks QVPO hyperparameter
files and trains the hyperparameters of a stored Optuna trial.

rl-zoo3 has no plugin entry point: its tables are plain dicts read when ``train()`` / ``enjoy()``
run, so :func:`register_qvpo` has to run first (``python -m sb3_qvpo.zoo`` does).
"""

import functools
from collections import OrderedDict
from pathlib import Path
from pprint import pprint
from typing import Any

import optuna
import rl_zoo3.exp_manager
import rl_zoo3.hyperparams_opt
import rl_zoo3.train
import rl_zoo3.utils
from optuna.storages.journal import JournalFileBackend
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import SimpleLinearSchedule

from sb3_qvpo import QVPO
from sb3_qvpo.zoo.checks import check_hyperparams, check_hyperparams_file, parse_policy_kwargs, place_acting_settings
from sb3_qvpo.zoo.sampler import convert_qvpo_params, merge_policy_kwargs, sample_qvpo_params

ALGO_NAME = "qvpo"
# The shipped hyperparameters (the top-level hyperparams/qvpo.yml links to this file).
DEFAULT_CONFIG = Path(__file__).parent / "hyperparams" / "qvpo.yml"


def register_qvpo(acting: dict[str, Any] | None = None) -> None:
    """
    Register QVPO in rl-zoo3 (algorithm, Optuna sampler and converter, experiment manager). Idempotent.

    :param acting: acting settings that every model rl-zoo3 loads gets (``enjoy -params n_sampling_steps:5``)
    """
    rl_zoo3.utils.ALGOS[ALGO_NAME] = QVPO if not acting else qvpo_loading_with(acting)
    rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER[ALGO_NAME] = sample_qvpo_params
    rl_zoo3.hyperparams_opt.HYPERPARAMS_CONVERTER[ALGO_NAME] = convert_qvpo_params
    rl_zoo3.train.ExperimentManager = QVPOExperimentManager  # type: ignore[misc]


def qvpo_loading_with(acting: dict[str, Any]) -> type[QVPO]:
    """QVPO whose ``load`` applies ``acting`` (acting settings, checked by the load), for rl-zoo3's enjoy."""

    class QVPOActingAsTold(QVPO):
        @classmethod
        def load(cls, path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            model = QVPO.load(path, *args, **{**kwargs, **acting})
            print(f"Acting settings of the loaded model: {model.policy.acting}")
            return model

    return QVPOActingAsTold


def _sample_with_base_policy_kwargs(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict, base_policy_kwargs: dict[str, Any]
) -> dict[str, Any]:
    hyperparams = sample_qvpo_params(trial, n_actions, n_envs, additional_args)
    hyperparams["policy_kwargs"] = merge_policy_kwargs(base_policy_kwargs, hyperparams.get("policy_kwargs"))
    return hyperparams


class QVPOExperimentManager(ExperimentManager):
    """
    rl-zoo3's experiment manager, with, for QVPO:

    - the hyperparameter file checked first: an unknown env id or hyperparameter name stops the
      run with a message that names it;
    - ``--storage URL --study-name NAME`` without ``-optimize`` trains the hyperparameters of the
      study's best trial, or of ``--trial-id N`` (also N = 0, which rl-zoo3 skips), on top of the file's;
    - sampled and stored ``policy_kwargs`` merged into the file's instead of replacing them;
    - ``actor_learning_rate: lin_<value>`` read as a linear schedule, like ``learning_rate``;
    - ``--trained-agent`` with the replay buffer saved beside it (``--save-replay-buffer`` in the first run):
      the buffer is loaded (as rl-zoo3 does) and the random warm-up is not repeated (``learning_starts=0``);
      without a saved buffer the warm-up refills the empty one, as the file's ``learning_starts`` says;
    - a run shorter than ``--eval-freq`` (rl-zoo3's default is 25,000 steps) still evaluates:
      10 times, evenly spaced, so that ``best_model.zip`` exists for ``enjoy --load-best``.
    """

    # evaluations of a run shorter than --eval-freq
    N_SHORT_RUN_EVALUATIONS = 10

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.algo != ALGO_NAME:
            return super().read_hyperparameters()
        if self.config.endswith((".yml", ".yaml")):
            check_hyperparams_file(self.config)

        # rl-zoo3 loads a stored trial only for a non-zero --trial-id; it is done below instead
        trial_id, self.trial_id = self.trial_id, None
        try:
            hyperparams, saved_hyperparams = super().read_hyperparameters()
        finally:
            self.trial_id = trial_id

        if self.storage and self.study_name and not self.optimize_hyperparameters:
            hyperparams.update(self._load_trial_hyperparams(hyperparams.get("policy_kwargs")))
            # Command-line hyperparameters still have the last word
            hyperparams.update(self.custom_hyperparams or {})
            saved_hyperparams = OrderedDict(sorted(hyperparams.items()))
            print("Hyperparameters with those of the trial:")
            pprint(saved_hyperparams)

        check_hyperparams(hyperparams, f"{self.config}, {self.env_name.gym_id}")
        return place_acting_settings(hyperparams, continuing=bool(self.trained_agent)), saved_hyperparams

    def _load_trial_hyperparams(self, base_policy_kwargs: Any) -> dict[str, Any]:
        assert self.storage is not None and self.study_name is not None
        storage: Any = self.storage
        if storage.endswith(".log"):
            storage = optuna.storages.JournalStorage(JournalFileBackend(storage))
        study = optuna.load_study(storage=storage, study_name=self.study_name)
        if self.trial_id is None:
            trial = study.best_trial
        else:
            matching = [trial for trial in study.trials if trial.number == self.trial_id]
            if not matching:
                raise ValueError(f"Study {self.study_name!r} has no trial {self.trial_id} ({len(study.trials)} trials)")
            trial = matching[0]
        print(f"Loading the hyperparameters of trial {trial.number} of study {self.study_name!r} (value: {trial.value})")
        trial_hyperparams = convert_qvpo_params(trial.params)
        trial_hyperparams["policy_kwargs"] = merge_policy_kwargs(
            parse_policy_kwargs(base_policy_kwargs), trial_hyperparams.get("policy_kwargs")
        )
        return trial_hyperparams

    @staticmethod
    def _preprocess_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
        hyperparams = ExperimentManager._preprocess_schedules(hyperparams)
        actor_learning_rate = hyperparams.get("actor_learning_rate")
        if isinstance(actor_learning_rate, str):
            _schedule, initial_value = actor_learning_rate.split("_")
            hyperparams["actor_learning_rate"] = SimpleLinearSchedule(float(initial_value))
        return hyperparams

    def _load_pretrained_agent(self, hyperparams: dict[str, Any], env: Any) -> Any:
        model = super()._load_pretrained_agent(hyperparams, env)
        if isinstance(model, QVPO) and model.replay_buffer is not None and model.replay_buffer.size() > 0:
            # rl-zoo3 restarts the step counter: without this, the run would act at random again for
            # learning_starts steps although the loaded buffer already holds the warm-up
            print(f"Replay buffer of {model.replay_buffer.size()} transitions loaded: no random warm-up (learning_starts=0)")
            model.learning_starts = 0
        return model

    def create_callbacks(self) -> None:
        if self.algo == ALGO_NAME and 0 < self.n_timesteps < self.eval_freq:
            eval_freq = max(self.n_timesteps // self.N_SHORT_RUN_EVALUATIONS, 1)
            print(
                f"--eval-freq {self.eval_freq} exceeds the run's {self.n_timesteps} steps: "
                f"evaluating every {eval_freq} steps instead"
            )
            self.eval_freq = eval_freq
        super().create_callbacks()

    def hyperparameters_optimization(self) -> None:
        if self.algo != ALGO_NAME:
            return super().hyperparameters_optimization()
        samplers = rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER
        samplers[ALGO_NAME] = functools.partial(
            _sample_with_base_policy_kwargs, base_policy_kwargs=dict(self._hyperparams.get("policy_kwargs") or {})
        )
        try:
            super().hyperparameters_optimization()
        finally:
            samplers[ALGO_NAME] = sample_qvpo_params
