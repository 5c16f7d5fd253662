"""Money, in integer micro-credits (1 credit = 1,000,000 micro-credits)."""

from django.conf import settings
from django.db import models
from django.db.models import CASCADE, F, ProtectedError, Q

from billing.packs import price_format


class Wallet(models.Model):
    """An account's credits. `held` is reserved by generations under way; what is free to spend is
    balance - held. The database itself refuses a negative balance or a hold beyond the balance."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE)
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Granting or taking credits is money: staff get it only when given this permission.
        permissions = [("change_credits", "Can grant or adjust an account's credits")]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
            models.CheckConstraint(condition=Q(held__gte=0), name="wallet_held_not_negative"),
            models.CheckConstraint(condition=Q(held__lte=F("balance")), name="wallet_held_within_balance"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.balance} µcr)"

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerEntry(models.Model):
    """One change of a balance. A wallet's balance always equals the sum of its entries."""

    class Kind(models.TextChoices):
        SIGNUP_GRANT = "signup_grant", "Signup grant"
        ADMIN_GRANT = "admin_grant", "Admin grant"
        ADMIN_ADJUSTMENT = "admin_adjustment", "Admin adjustment"
        GENERATION = "generation", "Generation"
        CLONE = "clone", "Voice clone"
        REFUND = "refund", "Refund"
        PURCHASE = "purchase", "Purchase"
        PURCHASE_REFUND = "purchase_refund", "Payment refunded"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_entries")
    amount = models.BigIntegerField(help_text="micro-credits; negative for a charge")
    balance_after = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    generation = models.ForeignKey(
        "studio.Generation", null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    voice = models.ForeignKey(
        "voices.Voice", null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    purchase = models.ForeignKey(
        "billing.Purchase", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    # The admin who made the change; None when the system did.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_not_negative"),
            # A Checkout Session credits once: a second credit of the same purchase is refused by the
            # database itself, whatever the code above it does.
            models.UniqueConstraint(
                fields=["purchase"], condition=Q(kind="purchase"), name="ledger_one_credit_per_purchase"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+} µcr"


def protect_unsettled(collector, field, sub_objs, using) -> None:
    """on_delete of a hold: PROTECT while it is open (its credits are still held: deleting it would
    strand them in the wallet's `held`); once settled it goes with its generation or account."""
    open_holds = list(sub_objs.filter(settled_at__isnull=True))
    if open_holds:
        raise ProtectedError(
            "A generation under way still holds credits: cancel it and let it end before deleting it.", set(open_holds)
        )
    CASCADE(collector, field, sub_objs, using)


class Hold(models.Model):
    """Credits reserved for one generation: the most it may cost. Settled once, at what it produced."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=protect_unsettled, related_name="holds")
    generation = models.OneToOneField("studio.Generation", on_delete=protect_unsettled, related_name="hold")
    amount = models.BigIntegerField()
    charged = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["settled_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="hold_amount_not_negative"),
            models.CheckConstraint(condition=Q(charged__lte=F("amount")), name="hold_charge_within_amount"),
        ]

    def __str__(self) -> str:
        state = "settled" if self.settled_at else "open"
        return f"{state} hold of {self.amount} µcr for generation {self.generation_id}"


class Purchase(models.Model):
    """One Stripe Checkout Session for a pack of credits. What it credits, and to whom, is what was
    written here when the session was made: never what an event says."""

    class Status(models.TextChoices):
        CREATED = "created", "Awaiting payment"
        PAID = "paid", "Paid"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases")
    pack = models.CharField(max_length=20, help_text="the pack's credits as CREDIT_PACKS named them")
    credits = models.BigIntegerField(help_text="micro-credits")
    amount = models.PositiveIntegerField(help_text="the price in the currency's minor unit (cents)")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    stripe_session_id = models.CharField(max_length=255, unique=True)
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    # What Stripe said that does not match this record (another amount or currency): nothing is
    # credited, and an admin looks.
    problem = models.CharField(max_length=300, blank=True)
    # A refund takes back what it can of the pack's credits, never below zero: the rest is shown
    # to admins. Both in micro-credits.
    refund_taken = models.BigIntegerField(default=0)
    refund_shortfall = models.BigIntegerField(default=0)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="purchase_credits_positive"),
            models.CheckConstraint(
                condition=Q(refund_taken__gte=0, refund_shortfall__gte=0)
                & Q(refund_taken__lte=F("credits") - F("refund_shortfall")),
                name="purchase_refund_within_credits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pack} credits for {self.user} ({self.get_status_display()})"

    @property
    def price_text(self) -> str:
        return price_format(self.amount, self.currency)
