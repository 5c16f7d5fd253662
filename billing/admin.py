from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from billing.forms import CreditsChangeForm
from billing.models import LedgerEntry, Purchase
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
        actor = request.user if isinstance(request.user, AbstractBaseUser) else None  # the admin's sign-in
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened: it is read, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """The ledger is the record of what happened: it is read, never edited."""

    list_display = ["created_at", "user", "kind", "amount_credits", "balance_after_credits", "actor", "reason"]
    list_filter = ["kind"]
    search_fields = ["user__email", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "actor"]

    @admin.display(description="amount (credits)", ordering="amount")
    def amount_credits(self, entry: LedgerEntry) -> str:
        return credits_format(entry.amount)

    @admin.display(description="balance after", ordering="balance_after")
    def balance_after_credits(self, entry: LedgerEntry) -> str:
        return credits_format(entry.balance_after)


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    """Every Checkout Session made for a pack; a refund's credits that were spent already, and a
    payment that did not match its pack, are shown here."""

    list_display = [
        "created_at",
        "user",
        "pack",
        "price",
        "status",
        "paid_at",
        "refunded_at",
        "refund_taken_credits",
        "refund_not_taken_back",
        "problem",
    ]
    list_filter = ["status", "currency", ("refunded_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "stripe_session_id", "stripe_payment_intent"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]

    @admin.display(description="price", ordering="amount")
    def price(self, purchase: Purchase) -> str:
        return purchase.price_text

    @admin.display(description="refund took back (credits)", ordering="refund_taken")
    def refund_taken_credits(self, purchase: Purchase) -> str:
        return credits_format(purchase.refund_taken)

    @admin.display(description="refund could not take back (spent)", ordering="refund_shortfall")
    def refund_not_taken_back(self, purchase: Purchase) -> str:
        return credits_format(purchase.refund_shortfall)
