"""Endpoints of the operations API, one module per resource; each calls the existing services."""
