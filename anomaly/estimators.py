"""Small online estimators in river's style: parameters as attributes, `learn_one`/`score_one`, `clone()`.

They are kept tiny on purpose: one home holds dozens of them and its whole state must stay below 32 KB. (The stillness
model, river-style too, has a module of its own: anomaly/stillness.py.)
"""

from __future__ import annotations

import math

from river import base


class Cusum(base.Base):
    """One-sided CUSUM of standardised values against a slowly learned baseline (Page 1954).

    `learn_one(x)` updates the baseline (only while no change is suspected) and the cumulative sum; `score_one()`
    is the current sum, and `drift_detected` turns true once it passes `threshold` after `grace` values.
    `direction=-1` watches for a drop (activity decline), `+1` for a rise (night restlessness).
    """

    def __init__(
        self, direction: int = -1, slack: float = 0.5, threshold: float = 4.0, alpha: float = 0.05, grace: int = 7
    ) -> None:
        self.direction = direction
        self.slack = slack
        self.threshold = threshold
        self.alpha = alpha
        self.grace = grace
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.sum = 0.0
        self.drift_detected = False

    def learn_one(self, x: float) -> None:
        """Take one value (e.g. one day's activity)."""
        self.n += 1
        if self.n == 1:
            self.mean = x
            return
        sd = math.sqrt(self.var) if self.var > 0 else max(abs(self.mean) * 0.1, 1e-6)
        z = (x - self.mean) / sd
        if self.n > self.grace:
            self.sum = max(0.0, self.sum + self.direction * z - self.slack)
        self.drift_detected = self.sum > self.threshold
        if self.drift_detected:
            self.sum = 0.0
        if self.sum < self.threshold / 2 or self.n <= self.grace:
            # The baseline learns only from values that do not look like the change being watched for.
            a = 1.0 / self.n if self.n <= self.grace else self.alpha
            d = x - self.mean
            self.mean += a * d
            self.var = (1 - a) * (self.var + a * d * d)

    def score_one(self) -> float:
        """The current cumulative sum."""
        return self.sum
