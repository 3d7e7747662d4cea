"""Moving runs in and out of backprop: the exporter base class and the importers."""
