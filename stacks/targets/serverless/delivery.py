"""How SQS hands messages to the function and how provisioned concurrency is held: terms the CDK
stack builds (stacks/aws/queue.py, stacks/aws/serving.py) and the simulator replays, kept free of
aws-cdk-lib so a plan can simulate without starting jsii."""

from __future__ import annotations

MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS guidance: visibility timeout >= 6 x the function timeout
# A scheduled action re-asserts the provisioned floor this often, so target tracking cannot drift under it.
HOLD_EVERY_MINUTES = 15


def visibility_timeout_s(function_timeout_s: int) -> int:
    """CDK does not relate the two; a shorter visibility would redeliver messages still in flight.

    Lambda's 900 s cap keeps 6 x timeout (5,400 s) under SQS's 43,200 s maximum.
    """
    return VISIBILITY_FACTOR * function_timeout_s
