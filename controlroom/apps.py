from django.apps import AppConfig


class ControlroomConfig(AppConfig):
    """The control room: the admin index that spans every app (the top layer; no models)."""

    name = "controlroom"
    verbose_name = "Control room"
