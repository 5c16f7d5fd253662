from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from api.api import api
from api.openai.api import openai_api
from studio import views as studio_views

# The admin signs in through allauth's login, with its rate limits: its own form has none.
# allauth's documented way; mypy forbids assigning to a method.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", studio_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("billing/", include("billing.urls")),
    path("teams/", account_views.teams, name="teams"),
    path("teams/<uuid:team_id>/", account_views.team_detail, name="team_detail"),
    path("teams/invitations/<int:invitation_id>/", account_views.invitation_answer, name="invitation_answer"),
    path("studio/voices/", include("voices.urls")),
    path("studio/", include("studio.urls")),
    path("api/v1/", api.urls),
    # OpenAI's paths, for clients that only change base_url (docs/openai.md).
    path("v1/", openai_api.urls),
]
