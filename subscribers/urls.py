"""Public subscription routes (included at the site root by ersen_ops/urls.py)."""

from django.urls import path

from subscribers import views

app_name = "subscribers"

# Signed tokens: URL-safe base64 plus ":" separators.
urlpatterns = [
    path("subscribe", views.subscribe, name="subscribe"),
    path("subscribe/sent", views.subscribe_sent, name="sent"),
    path("subscriptions/confirm/<str:token>", views.confirm, name="confirm"),
    path("subscriptions/manage/<str:token>", views.manage, name="manage"),
    path("subscriptions/unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
]
