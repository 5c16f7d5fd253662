from django.urls import path

from studio import views

app_name = "studio"

urlpatterns = [
    path("", views.studio_index, name="index"),
    path("history/", views.history, name="history"),
    path("sessions/new", views.session_new, name="session_new"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session_detail"),
    path("sessions/<uuid:session_id>/rename", views.session_edit, name="session_rename"),
    path("sessions/<uuid:session_id>/delete", views.session_remove, name="session_delete"),
    path("sessions/<uuid:session_id>/share", views.session_share_edit, name="session_share"),
    path("sessions/<uuid:session_id>/generations", views.session_generations, name="session_generations"),
    path("generations/<uuid:generation_id>/audio", views.generation_audio, name="generation_audio"),
    path("generations/<uuid:generation_id>/captions", views.generation_captions, name="generation_captions"),
    path(
        "generations/<uuid:generation_id>/<str:action>",
        views.generation_action,
        name="generation_action",
    ),
]
