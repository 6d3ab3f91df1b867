from django.urls import path

from assistant.api import views

urlpatterns = [
    path("assistant/turns/", views.TurnListView.as_view(), name="assistant-turns"),
    path("reminders/", views.ReminderListView.as_view(), name="reminders"),
    path("reminders/<int:pk>/", views.ReminderDetailView.as_view(), name="reminder-detail"),
]
