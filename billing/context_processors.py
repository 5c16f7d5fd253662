from django.http import HttpRequest

from billing.pricing import credits_format
from billing.selectors import wallet_for


def wallet(request: HttpRequest) -> dict:
    """The signed-in account's balance, for the header of every page."""
    if not request.user.is_authenticated:
        return {}
    return {"wallet_balance": credits_format(wallet_for(request.user).balance)}
