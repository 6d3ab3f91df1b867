from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from zapa_site import health

admin.site.site_header = "Zapa administration"
admin.site.site_title = "Zapa admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("messaging.api.urls")),
    path("api/v1/llm/", include("llm.api.urls")),
    path("api/v1/", include("assistant.api.urls")),
]

handler400 = "core.errors.handler400"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
