"""Ersen Ops: the operations portal for ersen.xyz."""
