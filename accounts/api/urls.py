from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/request-code/", views.RequestCodeView.as_view(), name="auth-request-code"),
    path("auth/verify/", views.VerifyCodeView.as_view(), name="auth-verify"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path("me/", views.MeView.as_view(), name="me"),
]
