from django.urls import path

from voices import views

app_name = "voices"

urlpatterns = [
    path("", views.clones, name="clones"),
    path("new", views.clone_new, name="clone_new"),
    path("<uuid:voice_id>/delete", views.clone_remove, name="clone_delete"),
    path("<uuid:voice_id>/preview", views.voice_preview, name="preview"),
    path("pronunciations/", views.pronunciations, name="pronunciations"),
    path("pronunciations/new", views.pronunciation_new, name="pronunciation_new"),
    path("pronunciations/<uuid:rule_id>/delete", views.pronunciation_remove, name="pronunciation_delete"),
    path("pronunciations/share", views.pronunciations_share_edit, name="pronunciations_share"),
    path("pronunciations/import", views.pronunciations_import_file, name="pronunciations_import"),
    path("pronunciations/export", views.pronunciations_export_file, name="pronunciations_export"),
]
