"""Classification tasks from real sources, as one table per split (idx, text_a, text_b, label)."""

from revmux.data.tasks import TaskData, TaskSpec, fetch_task_assets, known_tasks, load_task, resolve_task
from revmux.data.splits import split_hash, summarize

__all__ = [
    "TaskData", "TaskSpec", "fetch_task_assets", "known_tasks", "load_task", "resolve_task", "split_hash", "summarize",
]
