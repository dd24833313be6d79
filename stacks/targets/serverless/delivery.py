"""How the serverless target delivers work, as numbers: what the CDK builders synthesize and what
the simulator replays, in one place below both (no aws-cdk-lib here, so a plan or a simulation
never starts Node.js to read them)."""

from __future__ import annotations

# The handler acknowledges permanent failures (bad input becomes an error result), so only
# transient ones come back. A receive counts against every message of a batch that a crash-class
# failure (an invocation timeout, an out-of-memory kill) takes down, and against messages handed
# back unstarted: AWS advises at least 5 with batches. The handler reads it (MAX_RECEIVE_COUNT) to
# write a crashing message's error result at its last receive.
MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS guidance: visibility timeout >= 6 x the function timeout
# Provisioned concurrency is held by scheduled actions re-asserted every this many minutes.
HOLD_EVERY_MINUTES = 15


def visibility_timeout_s(function_timeout_s: int) -> int:
    """CDK does not relate the two; a shorter visibility would redeliver messages still in flight.

    Lambda's 900 s cap keeps 6 x timeout (5,400 s) under SQS's 43,200 s maximum.
    """
    return VISIBILITY_FACTOR * function_timeout_s
