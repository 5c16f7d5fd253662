import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger(__name__)


@login_required
@require_POST
def buy(request: HttpRequest) -> HttpResponse:
    """The account page's Buy: a Checkout Session for the pack, and off to Stripe's payment page."""
    # The stripe library is ~25 MiB: imported by the two views that talk to Stripe, not at start.
    from billing.stripe_checkout import PaymentRefused, checkout_session_create

    user = request.user
    if not isinstance(user, AbstractBaseUser):  # login_required let no one else in; this tells the types
        raise PermissionDenied
    account_url = request.build_absolute_uri(reverse("account"))
    try:
        _, url = checkout_session_create(
            user=user,
            pack_key=request.POST.get("pack", ""),
            success_url=f"{account_url}?checkout=success#purchases",
            cancel_url=f"{account_url}?checkout=cancelled#purchases",
        )
    except PaymentRefused as refused:
        messages.error(request, str(refused))
        return redirect("account")
    return redirect(url)


# Stripe signs its events; it has neither a session nor a CSRF token.
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    import stripe  # as in buy(): only when Stripe calls

    from billing.stripe_checkout import WebhookRefused, webhook_event_handle

    try:
        outcome = webhook_event_handle(payload=request.body, signature=request.headers.get("Stripe-Signature"))
    except WebhookRefused as refused:
        logger.warning("Stripe webhook refused: %s", refused)
        return HttpResponse(str(refused), status=400, content_type="text/plain")
    except stripe.StripeError:
        # Stripe's API did not answer the session's check: Stripe sends the event again later.
        logger.exception("Stripe webhook: the session could not be checked")
        return HttpResponse("Try again later.", status=503, content_type="text/plain")
    logger.info("Stripe webhook: %s", outcome)
    return HttpResponse(outcome, content_type="text/plain")
