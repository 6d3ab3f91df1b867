from django.urls import path

from llm.api import views

app_name = "llm"

urlpatterns = [
    path("providers/", views.ProviderCatalogueView.as_view(), name="providers"),
    path("configs/", views.LLMConfigListView.as_view(), name="config-list"),
    path("configs/<int:pk>/", views.LLMConfigDetailView.as_view(), name="config-detail"),
    path(
        "configs/<int:pk>/activate/",
        views.LLMConfigActivateView.as_view(),
        name="config-activate",
    ),
    path(
        "configs/<int:pk>/deactivate/",
        views.LLMConfigDeactivateView.as_view(),
        name="config-deactivate",
    ),
    path("configs/<int:pk>/check/", views.LLMConfigCheckView.as_view(), name="config-check"),
]
