"""Pulumi entry point (Pulumi.yaml `main: stacks/k8s/`)."""

from stacks.k8s.program import main

main()
