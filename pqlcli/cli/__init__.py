"""The ``pql`` command: one thin module per command over the library."""
