from django.urls import include, path

urlpatterns = [
    path("", include("messaging.api.webhook_urls")),
    path("", include("messaging.api.history_urls")),
]
