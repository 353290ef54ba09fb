"""When requests reach the server: replayed from a trace's arrival times (open loop), or released one per
returned request at a fixed concurrency (closed loop)."""

from __future__ import annotations

from revmux.core.errors import RevmuxError
from revmux.workloads.traces import Request


class OpenLoop:
    """Requests arrive at their trace times, whatever the server does."""

    def __init__(self, requests: list[Request]):
        self.queue = sorted(requests, key=lambda r: r.arrival_s)
        self.arrival = {r.request: r.arrival_s for r in self.queue}
        self.position = 0

    def due(self, now: float) -> list[Request]:
        start = self.position
        while self.position < len(self.queue) and self.queue[self.position].arrival_s <= now:
            self.position += 1
        return self.queue[start:self.position]

    def pending(self) -> bool:
        return self.position < len(self.queue)

    def next_time(self) -> float | None:
        return self.queue[self.position].arrival_s if self.pending() else None

    def returned(self, request: Request, now: float) -> None:
        pass


class ClosedLoop:
    """`concurrency` clients: each sends its next request (in trace order) when its previous one returns.
    Arrival times are when requests were sent (the trace's own times are ignored)."""

    def __init__(self, requests: list[Request], concurrency: int):
        if concurrency < 1:
            raise RevmuxError(f"concurrency {concurrency} must be at least 1")
        self.queue = list(requests)
        self.arrival: dict[str, float] = {}
        self.released = 0
        self.allowed = min(concurrency, len(self.queue))
        self.ready_at: list[float] = [0.0] * self.allowed

    def due(self, now: float) -> list[Request]:
        out = []
        while self.released < self.allowed and self.ready_at[self.released] <= now:
            request = self.queue[self.released]
            self.arrival[request.request] = self.ready_at[self.released]
            out.append(request)
            self.released += 1
        return out

    def pending(self) -> bool:
        return self.released < len(self.queue)

    def next_time(self) -> float | None:
        return self.ready_at[self.released] if self.released < self.allowed else None

    def returned(self, request: Request, now: float) -> None:
        if self.allowed < len(self.queue):
            self.allowed += 1
            self.ready_at.append(now)
