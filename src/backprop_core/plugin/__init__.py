"""Plugin machinery: the hook specifications, the typed facade over them, and the cached index
of the ``backprop`` entry points."""
