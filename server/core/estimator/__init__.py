"""The estimator: wait ranges for every ticket and counter estimates, learned from the branch's events.

Pure (numpy only). `Estimator` implements `server.core.estimates.EstimatorLike`;
`make_estimator(config)` is the server's hook.
"""

from .estimator import Estimator, make_estimator

__all__ = ["Estimator", "make_estimator"]
