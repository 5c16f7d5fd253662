from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import ApiToken, User
from billing.admin import change_credits
from billing.pricing import credits_format


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "balance", "is_staff", "is_active", "date_joined", "last_login"]
    list_select_related = ["wallet"]
    actions = [change_credits]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def has_change_credits_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_credits")

    @admin.display(description="balance (credits)", ordering="wallet__balance")
    def balance(self, user: User) -> str:
        wallet = getattr(user, "wallet", None)
        return credits_format(wallet.balance if wallet else 0)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "masked", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__email", "prefix"]
    readonly_fields = ["id", "user", "prefix", "scopes", "secret_digest", "created_at", "last_used_at"]
    fields = ["id", "user", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request) -> bool:
        # Secrets are made by the API, the Account page or `manage.py tokens create`, which show them once.
        return False
