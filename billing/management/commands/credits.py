from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.pricing import AmountError, credits_format, credits_parse
from billing.selectors import credits_problems, wallet_for
from billing.services import InsufficientCredits, credits_admin_change


class Command(BaseCommand):
    help = (
        "Operator tools for credits. `credits grant EMAIL AMOUNT --reason TEXT` (a negative AMOUNT adjusts "
        "down, never below zero); `credits show EMAIL` prints the balance in credits on its last line; "
        "`credits check` proves for every wallet that `held` is the sum of its open holds and the balance "
        "the sum of its ledger, and exits non-zero with the problems if not."
    )

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        grant = actions.add_parser("grant", help="grant (or, negative, take back) credits")
        grant.add_argument("email")
        grant.add_argument("amount", help="credits, e.g. 5, 0.25 or -1")
        grant.add_argument("--reason", required=True)
        show = actions.add_parser("show", help="print an account's balance")
        show.add_argument("email")
        actions.add_parser("check", help="prove every wallet against its holds and ledger")

    def handle(self, *args, action: str, email: str = "", **options) -> None:
        if action == "check":
            self._check()
            return
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account with the email {email}")
        if action == "grant":
            try:
                amount = credits_parse(options["amount"])
                entry = credits_admin_change(user=user, amount=amount, actor=None, reason=options["reason"])
            except (AmountError, InsufficientCredits, ValueError) as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"{entry.get_kind_display()}: {credits_format(entry.amount)} credits for {user.email}")
        wallet = wallet_for(user)
        self.stdout.write(f"{user.email}: held {credits_format(wallet.held)}, balance in credits:")
        self.stdout.write(credits_format(wallet.balance))

    def _check(self) -> None:
        checked, problems = credits_problems()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"credits check: {len(problems)} problems in {checked} accounts")
        self.stdout.write(f"credits check: {checked} accounts, held and balances match their holds and ledgers")
