"""The kubernetes target: a Pulumi program for a bare-metal GPU cluster (Pulumi.yaml points here)."""
