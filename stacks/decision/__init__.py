"""The decision layer: where a workload belongs, and why, with the numbers.

    reason.py    Reason: one rule's verdict and the sentence with its numbers
    describe.py  the workload in one phrase (CPU/GPU, mode, traffic) for the reasons that refuse it
    cost.py      LineItem, Cost and the Bill builder (a bill a finance team would recognise)
    capacity.py  node capacity: allocatable resources, replicas per node (bin-packing)
    sizing.py    sizing helpers every target shares (image size estimates, read times)
    target.py    TargetModel: the interface every target implements (size, bill, limits, rules)
    option.py    Facts (what a target's rules read), Option (one target's verdict), Decision
    traffic.py   rules across targets (sustained utilization, active hours)
    decide.py    the loop: each target sizes, bills and checks its rules; cost comparison; the choice
    workload.py  Workload: a profile with its decision, what builders and templates take

The decision never names a target in its control flow: it loops over the TargetModels handed to
`decide` (stacks/targets assembles the registry). It imports the profile layer, the price and
limit books and errors, never a target, a builder or a command (tests/test_layering.py).
"""
