"""Launch: the ``LaunchSpec`` handed from admission to a launcher, and the plugin base classes
that prepare and start a session (framework adapters, launchers, in-run monitors)."""
