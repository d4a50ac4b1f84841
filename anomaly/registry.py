"""The registry's word on each home, read into the engine: its time zone, its kit, its false-alarm budget.

The console writes them to the SQL database (`homes`, `home_sensors`); the service (and each cluster worker, for the
homes it holds) reads them at start and with every routine summary, so an operator's change reaches a running home
within a summary interval. A database problem is
logged and leaves every home as it was: detection never waits for the registry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anomaly.engine import Engine, HomeLimits
from anomaly.store import home_budgets, home_kits, home_timezones
from contracts.vocabulary import FALSE_ALARM_BUDGET_MAX, FALSE_ALARM_BUDGET_MIN

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Word:
    """What the database said at one read; a part it could not read is None (its homes keep what they have)."""

    timezones: dict[str, str] | None
    kits: dict[str, dict[str, dict[str, str]]] | None
    budgets: dict[str, float] | None

    def complete(self) -> bool:
        """Whether every part was read."""
        return self.timezones is not None and self.kits is not None and self.budgets is not None


class Registry:
    """Reads zones, kits and budgets from the database at `db_url` into `engine`; `configured`: the TOML's per-home
    limits, which a home returns to when its budget is cleared in the console.

    `read()` is the I/O and `apply(word)` (or `steps(word)`, a home at a time) changes the engine, so a worker reads in
    a thread and applies on its loop; `load()` does both.
    """

    def __init__(self, engine: Engine, db_url: str, configured: Mapping[str, HomeLimits]) -> None:
        self.engine = engine
        self.db_url = db_url
        self.configured = dict(configured)
        self._bad: set[tuple[str, str]] = set()  # (zone or budget, home) warned about, once each
        self._budgeted: set[str] = set()  # homes with a budget from the console at the last read
        self.budgets_known = False  # whether the last read of the budgets succeeded (`Engine.install`'s `limits`)

    def load(self) -> None:
        """Read every home's zone, kit and budget and apply them; each part that cannot be read is logged and kept."""
        self.apply(self.read())

    def read(self, keep: Callable[[str], bool] | None = None) -> Word:
        """The registry's word on every home now (`keep`: only on these); a part not read is logged (and is None)."""
        return Word(
            self._read(home_timezones, keep, "home time zones not read, every home keeps its zone"),
            self._read(home_kits, keep, "home kits not read, sensor roles are learned only"),
            self._read(home_budgets, keep, "home false-alarm budgets not read, homes keep theirs"),
        )

    def _read(
        self, reader: Callable[[str, Callable[[str], bool] | None], _T], keep: Callable[[str], bool] | None, why: str
    ) -> _T | None:
        try:
            return reader(self.db_url, keep)
        except Exception as err:  # detection never waits for the registry
            log.warning("%s: %s", why, err)
            return None

    def apply(self, word: Word) -> None:
        """Hand the engine's homes what `word` says of them (no I/O)."""
        for _ in self.steps(word):
            pass

    def steps(self, word: Word) -> Iterator[None]:
        """`apply`, a home at a time: it yields after each, so a caller on an event loop can let others run."""
        if word.timezones is not None:
            for home, name in word.timezones.items():
                self._apply_timezone(home, name)
                yield
        if word.kits is not None:
            for home, kit in word.kits.items():
                self.engine.set_kit(home, kit)
                yield
        self.budgets_known = word.budgets is not None
        if word.budgets is not None:
            for home in sorted(set(word.budgets) | self._budgeted):
                self._apply_budget(home, word.budgets.get(home))
                yield
            self._budgeted = set(word.budgets)

    def forget(self, homes: Iterable[str]) -> None:
        """Drop what was read of these homes (a worker gave up their partition): the TOML's limits stay."""
        for home in homes:
            self.engine.home_kits.pop(home, None)
            self.engine.home_tz.pop(home, None)
            if home in self.configured:
                self.engine.home_limits[home] = self.configured[home]
            else:
                self.engine.home_limits.pop(home, None)
            self._budgeted.discard(home)

    def _apply_timezone(self, home: str, name: str) -> None:
        """A home's time zone from the `homes` table; an unknown zone keeps the service's."""
        try:
            tz = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            tz_now = self.engine.options.tz
            self._warn("zone", home, "home %s: unknown time zone %r (%s), using %s", name, err, tz_now)
            return
        self.engine.set_timezone(home, tz)

    def _apply_budget(self, home: str, budget: float | None) -> None:
        """A home's false-alarm budget set in the console over its configured limits; None: back to those."""
        base = self.configured.get(home, self.engine.options.limits)
        if budget is not None and not (
            math.isfinite(budget) and FALSE_ALARM_BUDGET_MIN <= budget <= FALSE_ALARM_BUDGET_MAX
        ):
            # Written past the console (which checks it): the configured budget stands.
            lo, hi = FALSE_ALARM_BUDGET_MIN, FALSE_ALARM_BUDGET_MAX
            self._warn("budget", home, "home %s: false-alarm budget %r outside %g-%g, ignored", budget, lo, hi)
            budget = None
        want = base if budget is None else replace(base, false_alarm_budget_per_60d=budget)
        if self.engine.home_limits.get(home, self.engine.options.limits) != want:
            self.engine.set_limits(home, want)
            log.info("home %s: false-alarm budget %g per 60 days", home, want.false_alarm_budget_per_60d)

    def _warn(self, what: str, home: str, msg: str, *args: object) -> None:
        """Log a home's bad zone or budget once (each summary reads it again)."""
        if (what, home) not in self._bad:
            self._bad.add((what, home))
            log.warning(msg, home, *args)
