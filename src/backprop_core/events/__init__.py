"""Events: what a running script reports (``Event``), and how events become records (metric
points, checkpoints, summary) in every store the same way."""
