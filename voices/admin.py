from django.contrib import admin

from voices.models import Voice


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["speaker_name", "kind", "gender", "owner", "is_active", "fit_status", "created_at"]
    list_filter = ["kind", "gender", "is_active", "fit_status"]
    search_fields = ["speaker_name", "owner__email"]
    readonly_fields = [
        "id",
        "created_at",
        "fit_status",
        "fit_progress",
        "fit_scores",
        "fit_heartbeat_at",
        "fit_finished_at",
    ]
