"""Artifacts (docs/artifacts.md): named, versioned files and folders kept in a
content-addressed object store under the home, with the runs that produced and read them."""
