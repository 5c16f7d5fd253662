from django.contrib import admin

from voices.models import Voice


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["speaker_name", "kind", "gender", "owner", "is_active", "created_at"]
    list_filter = ["kind", "gender", "is_active"]
    search_fields = ["speaker_name", "owner__email"]
    readonly_fields = ["id", "created_at"]
