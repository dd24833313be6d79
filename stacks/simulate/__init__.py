"""`switchyard simulate`, and the simulated burst `switchyard plan` sizes from and shows.

The models (engine.py, serverless.py, kubernetes.py, server.py) and the traffic (traffic.py, window.py)
work on the plain parameter dataclasses of params.py and import nothing above the profile, so a target
can simulate its own sizing (stacks/targets/serverless/simulation.py). inputs.py is the adapter from a
decided Workload; run.py (the command's runs) and verdict.py (the plan's figures) read through it.
"""
