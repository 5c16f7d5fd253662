from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.account, name="account"),
    path("tokens/new", views.token_new, name="account_token_new"),
    path("tokens/<uuid:token_id>/revoke", views.token_delete, name="account_token_revoke"),
    path("tokens/revoke-all", views.tokens_delete_all, name="account_tokens_revoke_all"),
]
