"""One-line callbacks for training frameworks. Import the module of your framework explicitly
(``backprop_core.integrations.lightning``...); nothing here is imported by ``backprop_core``."""
