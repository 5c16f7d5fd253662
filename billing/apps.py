from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Wallets, the credit ledger, holds and prices."""

    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"
