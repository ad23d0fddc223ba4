__version__ = "0.1.0"


def score(*args, **kwargs):
    """Score outside predictions: see `farl_bench.scoring.score` (imported lazily: torch is heavy)."""
    from farl_bench.scoring import score as _score

    return _score(*args, **kwargs)


def evaluate(*args, **kwargs):
    """Run a benchmark grid as `farl-bench run` does: see `farl_bench.api.evaluate` (imported lazily)."""
    from farl_bench.api import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
