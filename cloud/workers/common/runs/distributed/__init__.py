"""Distributed runs: probe jobs on Celery workers, driven by `batch.py --broker`.

The driver (`driver.py`) is the source of truth for which jobs must end; Redis holds each
run's state (`state.py`: generations, claims, the done-set, checkpoints, results waiting
to be collected) and the shared rate limits (`shared_limit.py`); the broker only carries
messages, so a message it drops or delivers twice costs a lease timeout or nothing. Each
worker process (`app.py`) runs its jobs on one event loop (`loop_thread.py`) through the
same run path as serve and batch (`task.py`). A one-shot probe imports none of this.
"""
