"""The training loop, full-state checkpoints, callbacks, schedules and device set-up."""
