"""Probing tasks: one module per task, each registering a `Task` in `TASKS`."""
