from django.contrib import admin
from django.http import HttpRequest

from studio.models import Generation, Session
from studio.services import generation_delete, session_delete


class GenerationInline(admin.TabularInline):
    model = Generation
    fields = ["created_at", "voice_name", "text", "status", "seconds"]
    readonly_fields = ["created_at", "voice_name", "text", "status", "seconds"]  # all of them: shown, not edited
    extra = 0
    can_delete = False
    show_change_link = True


class _DeletesThroughServices(admin.ModelAdmin):
    """Deletes as the Studio does (audio with the rows, holds settled), and never what is under way:
    its credits are held until it ends. Such rows are listed as protected, so the admin's
    confirmation page refuses them with a reason."""

    def _under_way(self, obj) -> bool:
        raise NotImplementedError

    def _delete(self, obj) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj) -> None:
        self._delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            if not self._under_way(obj):
                self._delete(obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and self._under_way(obj))

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        under_way = [f"{obj}: under way; cancel it and let it end first" for obj in objs if self._under_way(obj)]
        if under_way:  # refused for this reason, not for a permission (has_delete_permission says no to them)
            return deleted, counts, set(), [*protected, *under_way]
        return deleted, counts, perms_needed, protected


@admin.register(Session)
class SessionAdmin(_DeletesThroughServices, admin.ModelAdmin):
    list_display = ["title", "owner", "created_at", "updated_at", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "owner__email"]
    readonly_fields = ["id", "created_at", "updated_at", "deleted_at"]
    inlines = [GenerationInline]

    def _under_way(self, obj: Session) -> bool:
        return obj.generations.exclude(status__in=Generation.FINISHED).exists()

    def _delete(self, obj: Session) -> None:
        session_delete(session=obj)


@admin.register(Generation)
class GenerationAdmin(_DeletesThroughServices, admin.ModelAdmin):
    list_display = ["created_at", "user", "voice_name", "status", "seconds", "short_text", "deleted_at"]
    list_filter = ["status", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["text", "user__email", "voice_name"]
    readonly_fields = [f.name for f in Generation._meta.fields]
    exclude = ["peaks"]

    @admin.display(description="text")
    def short_text(self, obj: Generation) -> str:
        return obj.text[:60]

    def _under_way(self, obj: Generation) -> bool:
        return not obj.is_finished

    def _delete(self, obj: Generation) -> None:
        generation_delete(generation=obj)
