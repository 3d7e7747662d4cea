"""Admission: what the machine has (probes → ``Snapshot``), what the policies vote, which GPUs a
run gets, and the parallel slots and GPU reservations held while it runs."""
