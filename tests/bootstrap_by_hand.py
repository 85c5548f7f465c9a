"""The documented prompt-clustered bootstrap, written out with loops: the resamples the bench's intervals use."""

import numpy as np


def cluster_draws(keys, seed, resamples=2000):
    """Each resample: the conditions drawn with replacement, then each drawn condition's searches with replacement
    (numpy's default_rng: the conditions' picks first, then one uniform per search drawn)."""
    groups = {}
    for index, key in enumerate(keys):
        text = str(key)
        condition = text.split("|", 1)[-1].rsplit("#", 1)[0] if "#" in text else text
        groups.setdefault(condition, []).append(index)
    groups = list(groups.values())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(resamples, len(groups)))
    draws = []
    for row in picks:
        uniforms = iter(rng.random(sum(len(groups[c]) for c in row)))
        draws.append([groups[c][int(next(uniforms) * len(groups[c]))] for c in row for _ in groups[c]])
    return draws


def interval(values, keys, seed, level=0.95, resamples=2000):
    """The percentile interval of a mean over the clustered resamples."""
    values = np.asarray(values, dtype=float)
    means = [values[draw].mean() for draw in cluster_draws(keys, seed, resamples)]
    tail = 100 * (1 - level) / 2
    return list(np.percentile(means, [tail, 100 - tail]))
