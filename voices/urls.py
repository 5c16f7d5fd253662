from django.urls import path

from voices import views

app_name = "voices"

urlpatterns = [
    path("", views.clones, name="clones"),
    path("new", views.clone_new, name="clone_new"),
    path("<uuid:voice_id>/delete", views.clone_remove, name="clone_delete"),
    path("<uuid:voice_id>/preview", views.voice_preview, name="preview"),
]
