"""Zapa's URLconf plus the benchmark's baseline views (bench.settings only)."""

from django.urls import include, path

from bench import views
from zapa_site.urls import handler400, handler404, handler500  # noqa: F401

urlpatterns = [
    path("bench/ping/", views.ping, name="bench-ping"),
    path("bench/naive-search/", views.NaiveSearchView.as_view(), name="bench-naive-search"),
    # Under the webhook's prefix, so the same request guards apply as to the webhook.
    path(
        "api/v1/webhooks/bench-store-only/<str:token>/",
        views.StoreOnlyWebhookView.as_view(),
        name="bench-webhook-store-only",
    ),
    path("", include("zapa_site.urls")),
]
