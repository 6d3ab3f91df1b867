from django.urls import path

from messaging.api import history_views

urlpatterns = [
    path("messages/", history_views.MessageListView.as_view(), name="message-list"),
    path("messages/stats/", history_views.MessageStatsView.as_view(), name="message-stats"),
    path("messages/export/", history_views.MessageExportView.as_view(), name="message-export"),
    path("messages/<int:pk>/", history_views.MessageDetailView.as_view(), name="message-detail"),
    path("conversations/", history_views.ConversationListView.as_view(), name="conversation-list"),
    path("sessions/", history_views.SessionListView.as_view(), name="session-list"),
]
