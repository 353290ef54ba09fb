"""Settings of the generation track, with their defaults: the one source the command line and the workflow
schema read (a test holds them equal). Torch-free, so the workflow can check a configuration before any job."""

from __future__ import annotations

from dataclasses import dataclass

from revmux.core.errors import RevmuxError


@dataclass(frozen=True)
class TraceSettings:
    backbone: str = "smollm2-135m"  # whose tokenizer the prompt ids are for
    task: str = "rt-polarity"  # real sentences the prompts are made of
    requests: int = 48
    seed: int = 0
    arrivals: str = "offline"  # poisson | offline
    rate: float | None = None  # requests/s, for poisson
    min_prompt_tokens: int = 4
    max_prompt_tokens: int = 200
    min_output_tokens: int = 8
    max_output_tokens: int = 256


@dataclass(frozen=True)
class ServeSettings:
    system: str = "baton"
    max_batch: int = 8
    timeout_s: float = 0.05  # static batching: the oldest waiting request starts a batch after this long
    concurrency: int | None = None  # closed loop: this many clients; None replays the trace's arrival times
    device: str = "cpu"
    dtype: str = "float32"
    warmup_requests: int = 2  # served once before the clock starts (not measured)


def settings_for(system: str, **given) -> ServeSettings:
    """ServeSettings of one system: a variant's name fixes its own timeout and max batch (static-t0.5-b8),
    over the `given` ones (--timeout, --max-batch); `system` stays the variant's name, which files its result."""
    from revmux.batching.systems import split_variant

    _, fixed = split_variant(system)
    return ServeSettings(system=system, **{**given, **fixed})


def check_serve(settings: ServeSettings) -> None:
    from revmux.batching.systems import split_variant

    _, fixed = split_variant(settings.system)
    for key, value in fixed.items():
        if getattr(settings, key) != value:  # a result would record one setting under a name saying another
            raise RevmuxError(f"system {settings.system} fixes {key} = {value:g}, but its settings give "
                              f"{getattr(settings, key):g}: build them with settings_for({settings.system!r}, ...)")
    if settings.max_batch < 1:
        raise RevmuxError(f"max batch {settings.max_batch} must be at least 1 (--max-batch)")
    if settings.timeout_s < 0:
        raise RevmuxError(f"timeout {settings.timeout_s} s must be >= 0 (--timeout)")
    if settings.concurrency is not None and settings.concurrency < 1:
        raise RevmuxError(f"concurrency {settings.concurrency} must be at least 1 (--concurrency)")


@dataclass(frozen=True)
class Objectives:
    """The latency objectives goodput counts against. The defaults are this harness's choice for a small model
    on a CPU (a first token within 2 s, then at least 4 tokens/s), not a published standard: set your own with
    `revmux serve-report --slo-ttft/--slo-tpot`."""
    ttft_s: float = 2.0
    tpot_s: float = 0.25

    def __post_init__(self):
        if not (self.ttft_s > 0 and self.tpot_s > 0):
            raise RevmuxError(f"latency objectives must be > 0 s (given TTFT {self.ttft_s}, TPOT {self.tpot_s}): "
                              "set --slo-ttft and --slo-tpot")

    def text(self) -> str:
        return f"TTFT <= {self.ttft_s:g} s and TPOT <= {self.tpot_s:g} s"
