from django.urls import path

from billing import views

urlpatterns = [
    path("buy/", views.buy, name="billing_buy"),
    path("stripe/webhook/", views.stripe_webhook, name="billing_stripe_webhook"),
]
