"""`switchyard simulate`: replay traffic against each target's scaling and report what callers live through.

inputs.py is the only module here that reads the decision (sizing, cost, target builders); the rest
works on the plain parameter dataclasses it produces. engine.py is the discrete-event core both
targets share, server.py the Kubernetes replica's admission contract, traffic.py the arrivals.
"""
