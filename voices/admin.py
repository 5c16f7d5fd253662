from django.contrib import admin

from voices.models import PronunciationRule, PronunciationShare, Voice


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


@admin.register(PronunciationRule)
class PronunciationRuleAdmin(admin.ModelAdmin):
    list_display = ["match", "alias", "ipa", "case_sensitive", "whole_word", "owner", "created_at"]
    list_filter = ["case_sensitive", "whole_word"]
    search_fields = ["match", "alias", "owner__email"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "created_at"]


@admin.register(PronunciationShare)
class PronunciationShareAdmin(admin.ModelAdmin):
    list_display = ["owner", "team", "created_at"]
    search_fields = ["owner__email", "team__name"]
    raw_id_fields = ["owner", "team"]
    readonly_fields = ["created_at"]
