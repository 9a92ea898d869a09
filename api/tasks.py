"""django-q entry points of the operations API."""

from api import services


def purge() -> str:
    counts = services.api_records_purge()
    return ", ".join(f"{name}: {count}" for name, count in counts.items())
