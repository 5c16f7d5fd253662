from django import forms
from django.contrib import admin

from core import pronunciation
from voices.models import PronunciationRule, PronunciationShare, Voice
from voices.services import PronunciationRefused, pronunciation_rule_clean


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


class PronunciationRuleForm(forms.ModelForm):
    """The admin's edits pass the checks the API and the page make (voices.services)."""

    class Meta:
        model = PronunciationRule
        fields = ["owner", "match", "alias", "ipa", "case_sensitive", "whole_word"]

    def clean(self) -> dict:
        data = super().clean() or {}
        rule = pronunciation.PronunciationRule(
            data.get("match") or "",
            alias=data.get("alias") or None,
            ipa=data.get("ipa") or None,
            case_sensitive=bool(data.get("case_sensitive")),
            whole_word=bool(data.get("whole_word")),
        )
        try:
            cleaned = pronunciation_rule_clean(rule)
        except PronunciationRefused as refused:
            raise forms.ValidationError(refused.message) from None
        data.update(match=cleaned.match, alias=cleaned.alias or "", ipa=cleaned.ipa or "")
        return data


@admin.register(PronunciationRule)
class PronunciationRuleAdmin(admin.ModelAdmin):
    form = PronunciationRuleForm
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
