"""The limit book: provider limits that are not adjustable, beside the price book at the ground.

Profile validation reads one of them (a replica's memory must fit a node or a Lambda function)
and the targets read the rest; keeping them here lets validation check a profile without
importing a target. Sources: the AWS Lambda quotas page, the API Gateway quotas page.
"""

LAMBDA_MIN_MEMORY_MB = 128
LAMBDA_MAX_MEMORY_MB = 10240
LAMBDA_MAX_TIMEOUT_S = 900
LAMBDA_MAX_IMAGE_GB = 10.0  # uncompressed container image
LAMBDA_INIT_LIMIT_MS = 10_000  # the init phase of an on-demand environment
HTTP_API_MAX_TIMEOUT_S = 29  # API Gateway's integration timeout for HTTP APIs is 30 s
