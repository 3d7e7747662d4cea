"""backprop default plugin (being written)."""
