"""Adaptive bitrate: pure decision logic, fed once a second with the receiver's reports.

The controller keeps a continuous estimate (multiplicative decrease on loss or
high RTT, gentle increase when the path is clean) and quantizes it to a ladder
of levels so that the stream changes only on a real step (each change reopens
an encoder or switches rendition at a keyframe); upward it moves one level per
decision. The receiver's REMB lowers the level when it falls below the level
being sent; it cannot approve a step up, since a receiver's estimate stays
within about 1.5x of what it receives. It does no I/O: the session reads
``getStats()`` and applies the decision; the controller, not REMB alone, has
the last word.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LADDER = (250_000, 500_000, 1_000_000, 2_000_000, 4_000_000)
PRESETS = {"low": 400_000, "medium": 1_000_000, "high": 2_500_000}


@dataclass(frozen=True)
class NetworkReport:
    fraction_lost: float = 0.0  # 0..1, from the last receiver report
    rtt: float | None = None  # seconds
    jitter: float | None = None  # seconds
    remb: int | None = None  # the receiver's estimated maximum bitrate, bits/s


@dataclass(frozen=True)
class BitrateChange:
    old: int
    new: int
    reason: str
    estimate: int


class AdaptiveBitrateController:
    """Decides the target bitrate. ``update(report)`` returns a ``BitrateChange`` when the
    applied level changes, else None. ``max_bitrate`` is typically the source's bitrate
    (the top level then means passthrough)."""

    def __init__(self, max_bitrate: int, *, min_bitrate: int = DEFAULT_LADDER[0],
                 initial: int | None = None, ladder: tuple[int, ...] = DEFAULT_LADDER,
                 loss_high: float = 0.10, loss_low: float = 0.02, rtt_high: float = 0.5,
                 increase: float = 1.25, hold_ticks: int = 2) -> None:
        if max_bitrate <= 0 or min_bitrate <= 0 or min_bitrate > max_bitrate:
            raise ValueError("need 0 < min_bitrate <= max_bitrate")
        self.min_bitrate, self.max_bitrate = min_bitrate, max_bitrate
        # ladder steps within 10% of the top are the top (passthrough) in all but name
        self.levels = sorted({b for b in ladder if min_bitrate <= b < max_bitrate * 0.9} | {min_bitrate, max_bitrate})
        self.loss_high, self.loss_low, self.rtt_high = loss_high, loss_low, rtt_high
        self.increase, self.hold_ticks = increase, hold_ticks
        self.estimate = float(initial or max_bitrate)
        self.current = self.level_for(self.estimate)
        self._since_decrease = hold_ticks

    def level_for(self, bitrate: float) -> int:
        """The highest level not above ``bitrate`` (the lowest level at least)."""
        below = [lvl for lvl in self.levels if lvl <= bitrate + 1]
        return below[-1] if below else self.levels[0]

    def update(self, report: NetworkReport) -> BitrateChange | None:
        loss = min(max(report.fraction_lost, 0.0), 1.0)
        if loss > self.loss_high:
            self.estimate *= 1 - 0.5 * loss
            reason = f"loss {loss:.0%}"
            self._since_decrease = 0
        elif report.rtt is not None and report.rtt > self.rtt_high:
            self.estimate *= 0.85
            reason = f"rtt {report.rtt * 1000:.0f} ms"
            self._since_decrease = 0
        elif loss < self.loss_low:
            self._since_decrease += 1
            if self._since_decrease > self.hold_ticks:  # let the queue drain before probing up
                self.estimate *= self.increase
            reason = f"loss {loss:.0%}, recovering"
        else:
            reason = f"loss {loss:.0%}, holding"
        self.estimate = min(max(self.estimate, self.min_bitrate), self.max_bitrate)
        target = self.estimate
        if report.remb is not None and report.remb < min(target, self.current):
            target = report.remb
            reason = f"receiver estimate (REMB) {report.remb // 1000} kbps"
        level = self.level_for(target)
        if level > self.current:  # probe upwards one level at a time
            level = self.levels[self.levels.index(self.current) + 1]
        if level == self.current:
            return None
        change = BitrateChange(self.current, level, reason, int(self.estimate))
        self.current = level
        return change
