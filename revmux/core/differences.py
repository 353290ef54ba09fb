"""Which settings differ between two nested dicts (e.g. a run's recorded config and the one given now), so a
refusal can name them instead of saying only that something differs."""

from __future__ import annotations

ABSENT = "(absent)"


def setting_differences(trained: dict, given: dict, prefix: str = "") -> list[str]:
    """One line per differing leaf, `key.path: trained X, given Y`, in `trained`'s key order then `given`'s new keys.

    Tuples equal lists (a config read back from JSON holds lists where the dataclass held tuples); a key on one
    side only shows as (absent) on the other (a setting added or removed since the run was made)."""
    lines = []
    for key in [*trained, *(key for key in given if key not in trained)]:
        path = f"{prefix}{key}"
        old, new = trained.get(key, ABSENT), given.get(key, ABSENT)
        if isinstance(old, dict) and isinstance(new, dict):
            lines += setting_differences(old, new, f"{path}.")
        elif _plain(old) != _plain(new):
            lines.append(f"{path}: trained {_shown(old)}, given {_shown(new)}")
    return lines


def _plain(value):
    return [_plain(item) for item in value] if isinstance(value, (list, tuple)) else value


def _shown(value) -> str:
    return value if value is ABSENT else repr(_plain(value))
