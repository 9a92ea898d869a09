from django.urls import path

from . import views

app_name = "checks"

urlpatterns = [
    path("checks/heartbeat/<str:heartbeat_id>/<str:secret>/", views.heartbeat, name="heartbeat"),
]
