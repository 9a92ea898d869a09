"""ersen-ops: the command line of the Ersen Ops operations API."""

__version__ = "1.0.0"
