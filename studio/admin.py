from django.contrib import admin

from studio.models import Generation, Session


class GenerationInline(admin.TabularInline):
    model = Generation
    fields = ["created_at", "voice_name", "text", "status", "seconds"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "created_at", "updated_at"]
    search_fields = ["title", "owner__email"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [GenerationInline]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "voice_name", "status", "seconds", "short_text"]
    list_filter = ["status"]
    search_fields = ["text", "user__email", "voice_name"]
    readonly_fields = [f.name for f in Generation._meta.fields]
    exclude = ["peaks"]

    @admin.display(description="text")
    def short_text(self, obj: Generation) -> str:
        return obj.text[:60]
