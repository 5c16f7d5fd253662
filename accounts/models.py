import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """An account, identified by its email address (there is no username)."""

    username = None  # type: ignore[assignment]  # Django drops an inherited field set to None; the stubs type it str
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    # An email-only manager (create_user takes no username) cannot be the stubs' username UserManager.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email


class Scope(models.TextChoices):
    """What an API token may do: speak, read voices and manage clones, manage tokens."""

    SPEECH = "speech", "Speech (tts_non_stream, tts_stream, the legacy /tts)"
    VOICES = "voices", "Voices and voice clones"
    TOKENS = "tokens", "API tokens"


def scopes_all() -> list[str]:
    """Every scope: what the published docs say a token may do, so a token made without scopes
    (every token made before scopes existed among them) keeps working as before."""
    return [scope.value for scope in Scope]


class ApiToken(models.Model):
    """A secret that lets a program act for an account through the API, within its scopes.

    Only a SHA-256 digest of the secret is kept: the secret is random and long, so a fast digest is
    safe against guessing, and lookups stay a single indexed query. The secret is shown once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the secret, shown in lists so a person can tell tokens apart.
    prefix = models.CharField(max_length=16)
    secret_digest = models.CharField(max_length=64, unique=True)
    # What the token may do (SCOPES); every scope unless it was made narrower.
    scopes = models.JSONField(default=scopes_all)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}{'•' * 12}"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class Team(models.Model):
    """People who share Studio sessions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_once_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """An invitation of an email address to a team. It waits until an account that has verified
    that address accepts it (or declines it); an address merely typed at sign-up proves nothing."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "email"], name="invitation_once_per_email")]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"
