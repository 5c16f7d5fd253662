from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from billing.forms import CreditsChangeForm
from billing.models import LedgerEntry
from billing.pricing import credits_format
from billing.services import BalanceTooLarge, InsufficientCredits, credits_admin_change


# Only for staff with billing.change_credits (superusers have every permission): the action is
# then neither listed nor accepted for anyone else.
@admin.action(description="Grant or adjust credits…", permissions=["change_credits"])
def change_credits(modeladmin: admin.ModelAdmin, request: HttpRequest, users: QuerySet) -> HttpResponse | None:
    """An admin action on accounts: asks for the amount and a reason, then writes one ledger entry
    per account with the admin as its actor."""
    form = CreditsChangeForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
        actor = request.user if request.user.is_authenticated else None  # the admin is signed in
        for user in users:
            try:
                credits_admin_change(user=user, amount=amount, actor=actor, reason=reason)
            except (InsufficientCredits, BalanceTooLarge) as refused:
                modeladmin.message_user(request, f"{user}: not changed. {refused}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{user}: {credits_format(amount)} credits ({reason}).")
        return None
    return TemplateResponse(
        request,
        "billing/admin_change_credits.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Grant or adjust credits",
            "form": form,
            "users": users,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger is the record of what happened: it is read, never edited."""

    list_display = ["created_at", "user", "kind", "amount_credits", "balance_after_credits", "actor", "reason"]
    list_filter = ["kind"]
    search_fields = ["user__email", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="amount (credits)", ordering="amount")
    def amount_credits(self, entry: LedgerEntry) -> str:
        return credits_format(entry.amount)

    @admin.display(description="balance after", ordering="balance_after")
    def balance_after_credits(self, entry: LedgerEntry) -> str:
        return credits_format(entry.balance_after)
