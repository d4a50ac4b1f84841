"""Wired sensors on the Pi's GPIO through gpiozero: PIR, reed switches, a panic button (press and long press)."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

from edge.config import GpioInput
from edge.sensors import Clock, Reading, Sink

log = logging.getLogger(__name__)


class GpioError(RuntimeError):
    """A GPIO input could not be opened."""


def describe(cfg: GpioInput, active: bool) -> str:
    """What an input's level means, for doctor's report."""
    if cfg.kind == "door":
        return "closed" if active else "open"
    if cfg.kind == "motion":
        return "motion" if active else "no motion"
    return "pressed" if active else "released"


class GpioSensor:
    """One input: settles bounces itself (mock pins have no debounce), then turns levels into readings."""

    def __init__(self, cfg: GpioInput, sink: Sink, clock: Clock, pin_factory: Any = None) -> None:
        from gpiozero import DigitalInputDevice  # type: ignore[import-untyped]  # only GPIO inputs need it
        from gpiozero.exc import GPIOZeroError, PinFactoryFallback  # type: ignore[import-untyped]

        warnings.simplefilter("ignore", PinFactoryFallback)  # doctor reports the final failure, not each fallback

        self.cfg, self._sink, self._clock = cfg, sink, clock
        try:
            # active_state must be left to gpiozero when a pull resistor is set; inversion is ours.
            self.device = DigitalInputDevice(cfg.pin, pull_up=cfg.effective_pull_up(), pin_factory=pin_factory)
        except GPIOZeroError as err:
            raise GpioError(f"GPIO{cfg.pin} ({cfg.sensor}): {err}") from err
        self._lock = threading.Lock()
        self._stable = self.active()
        self._edge_at = clock()
        self._settle: threading.Timer | None = None
        self._hold: threading.Timer | None = None
        self._held = False
        self.device.when_activated = self._on_edge
        self.device.when_deactivated = self._on_edge

    def active(self) -> bool:
        """The input's current level as meaning (door closed, motion, button pressed), after inversion."""
        return bool(self.device.value) != self.cfg.invert

    def state(self) -> str:
        """The current level in words."""
        return describe(self.cfg, self.active())

    def _on_edge(self, *_a: Any) -> None:
        with self._lock:
            if self._settle is None:
                self._edge_at = self._clock()  # a reading is stamped at its first edge, not after settling
            else:
                self._settle.cancel()
            self._settle = threading.Timer(self.cfg.bounce_s, self._settled)
            self._settle.daemon = True
            self._settle.start()

    def _settled(self) -> None:
        with self._lock:
            self._settle = None
            level, at = self.active(), self._edge_at
            if level == self._stable:
                return  # a bounce that came back
            self._stable = level
        self._changed(level, at)

    def _changed(self, active: bool, at: Any) -> None:
        cfg = self.cfg
        if cfg.kind == "motion":
            self._emit(1 if active else 0, at)
        elif cfg.kind == "door":
            self._emit("closed" if active else "open", at)
        elif active:
            self._held = False
            self._hold = threading.Timer(cfg.long_press_s, self._long)
            self._hold.daemon = True
            self._hold.start()
        else:
            if self._hold is not None:
                self._hold.cancel()
                self._hold = None
            if not self._held:
                self._emit("press", at)

    def _long(self) -> None:
        with self._lock:
            if not self._stable:
                return
            self._held = True
        self._emit("long_press", self._edge_at)

    def _emit(self, value: int | str, at: Any) -> None:
        self._sink(Reading(self.cfg.sensor, self.cfg.kind, value, at, room=self.cfg.room))

    def close(self) -> None:
        """Release the pin."""
        for t in (self._settle, self._hold):
            if t is not None:
                t.cancel()
        self.device.close()


def open_inputs(inputs: list[GpioInput], sink: Sink, clock: Clock, pin_factory: Any = None) -> list[GpioSensor]:
    """Open every configured input, closing those already opened if one fails."""
    opened: list[GpioSensor] = []
    try:
        for cfg in inputs:
            opened.append(GpioSensor(cfg, sink, clock, pin_factory))
    except Exception:
        for s in opened:
            s.close()
        raise
    return opened
