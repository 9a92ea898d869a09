"""Demo data of the site itself: the ersen.xyz components (seeded before the domain apps: status comes first)."""

from ersen_ops.status.models import Component

COMPONENTS = [
    ("Website", "ersen.xyz marketing site and dashboard"),
    ("Login", "Sign-in and sessions"),
    ("Widgets", "Embeddable widgets served to customers' sites"),
    ("Payments", "Checkout and billing"),
    ("API", "Public REST API"),
    ("Database", "PostgreSQL on the encrypted volume"),
]


def seed(stdout) -> None:
    for position, (name, description) in enumerate(COMPONENTS, start=1):
        Component.objects.get_or_create(name=name, defaults={"description": description, "position": position})
