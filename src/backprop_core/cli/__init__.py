"""The command-line interface: one small module per command, loaded only when used."""
