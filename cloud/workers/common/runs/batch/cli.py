"""`batch.py`: parse the command line, run the batch, print the summary, pick the exit code.

Exit codes: 0 every job finished (succeeded or failed for good); 3 finished, but some
results are retryable failures (run the same command again); 2 the command line, limits
file or jobs file is wrong, or (with --broker) the broker or Redis cannot be reached
(nothing was run); 128+N stopped by signal N.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from common.io.log import configure_logging, write_logs_to
from common.runs import event_loop
from common.runs.batch.files import JobsFileError
from common.runs.batch.options import ConfigError, parse_options
from common.runs.batch.progress import summary_text, write_summary_json
from common.runs.batch.runner import BatchRunner

if TYPE_CHECKING:
    from common.runs.distributed.driver import DistributedDriver
    from common.runs.provider_batch.runner import ProviderBatchRunner

EXIT_USAGE = 2


def main(argv: list[str]) -> int:
    try:
        options = parse_options(argv)
    except ConfigError as exc:
        sys.stderr.write(f"batch.py: {exc}\n")
        return EXIT_USAGE
    configure_logging()
    log_handle: TextIO | None = None
    if options.log_file is not None:
        log_handle = options.log_file.open("a", encoding="utf-8")
        write_logs_to(log_handle)
    out = sys.stdout
    sys.stdout = sys.stderr  # an SDK's stray print must not mix with anything a script reads
    runner: BatchRunner | DistributedDriver | ProviderBatchRunner
    stops: tuple[type[Exception], ...] = (JobsFileError,)  # said in one line, exit 2
    if options.via == "provider-batch":  # the providers' batch APIs, imported only for such a run
        from common.runs.provider_batch.runner import ProviderBatchRunner
        from common.runs.provider_batch.state import OldStateError

        runner, stops = ProviderBatchRunner(options), (JobsFileError, OldStateError)
    elif options.broker is None:
        runner = BatchRunner(options)
    else:  # Celery, kombu and redis are imported only for a distributed run
        from common.runs.distributed.connect import RedisLostError, UnreachableError
        from common.runs.distributed.driver import DistributedDriver

        runner, stops = DistributedDriver(options), (JobsFileError, UnreachableError, RedisLostError)
    try:
        if options.broker is not None:
            assert isinstance(runner, DistributedDriver)
            runner.check_services()
        code = event_loop.run(runner.run(handle_signals=True))
    except stops as exc:
        sys.stderr.write(f"batch.py: {exc}\n")
        return EXIT_USAGE
    finally:
        sys.stdout = out
        if log_handle is not None:
            log_handle.close()
    limiters = runner.limiter_states()
    sys.stderr.write(summary_text(runner.stats, options.output, limiters))
    if not isinstance(runner, BatchRunner):
        sys.stderr.write(runner.summary_lines())
    if options.log_file is not None:
        sys.stderr.write(f"  log         {options.log_file}\n")
    if options.summary_json is not None:
        if options.via == "provider-batch":  # with the per-provider batch figures
            from common.runs.provider_batch.runner import ProviderBatchRunner

            assert isinstance(runner, ProviderBatchRunner)
            write_summary_json(options.summary_json, runner.stats, limiters, summary=runner.summary(limiters))
        else:
            write_summary_json(options.summary_json, runner.stats, limiters)
    return code
