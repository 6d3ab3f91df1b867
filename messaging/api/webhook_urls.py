from django.urls import path

from messaging.api.webhook_views import WhatsAppWebhookView

urlpatterns = [
    path(
        "webhooks/whatsapp/<str:token>/",
        WhatsAppWebhookView.as_view(),
        name="whatsapp-webhook",
    ),
]
