"""Other machines over SSH: the OpenSSH client (``ssh``), commands run there (``--remote``),
the viewer through a tunnel (``ui --ssh``) and copying runs here (``pull``). docs/remote.md."""
