"""
Summaries of evaluation returns over seeds: the interquartile mean (IQM), rliable's aggregate
(``scipy.stats.trim_mean(x, 0.25)``), and its 95% percentile-bootstrap interval. scipy is imported on use (it
comes with the ``zoo`` and ``evidence`` extras). With 3 seeds the IQM trims nothing and equals the mean.
"""

import numpy as np


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the scores."""
    from scipy import stats

    return stats.trim_mean(scores, proportiontocut=0.25, axis=axis)


def iqm_with_ci(scores: np.ndarray) -> tuple[float, float, float]:
    """IQM and its 95% percentile-bootstrap interval (NaN bounds for fewer than two distinct scores)."""
    from scipy import stats

    scores = np.asarray(scores, dtype=float)
    if len(scores) < 2 or np.ptp(scores) == 0:
        return float(iqm(scores)), float("nan"), float("nan")
    result = stats.bootstrap(
        (scores,), iqm, n_resamples=10_000, confidence_level=0.95, method="percentile", rng=np.random.default_rng(0)
    )
    return float(iqm(scores)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def format_iqm(scores: np.ndarray) -> str:
    """``IQM [low, high]``, or the IQM alone where there is no interval."""
    value, low, high = iqm_with_ci(scores)
    return f"{value:.1f}" if np.isnan(low) else f"{value:.1f} [{low:.1f}, {high:.1f}]"
