"""The serverless target: an AWS CDK app (cdk.json points at stacks/aws/app.py)."""
