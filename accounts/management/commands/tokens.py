from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import TokenRefused, token_create


class Command(BaseCommand):
    help = (
        "Manage API tokens. `tokens create EMAIL [--name NAME] [--scopes speech,voices,tokens]` prints the "
        "new secret on its last line."
    )

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token for an account")
        create.add_argument("email")
        create.add_argument("--name", default="CLI token")
        create.add_argument("--scopes", default=None, help="comma-separated; every scope if left out")

    def handle(self, *args, action: str, email: str, name: str, scopes: str | None, **options) -> None:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account with the email {email}")
        try:
            token, secret = token_create(
                user=user, name=name, scopes=[s.strip() for s in scopes.split(",")] if scopes is not None else None
            )
        except TokenRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            f"Created token {token.name!r} ({token.id}) for {user.email}, scopes {', '.join(token.scopes)}. "
            "It is shown only once:"
        )
        self.stdout.write(secret)
