import uuid

from django.conf import settings
from django.db import models

from core.files import audio_storage


class Voice(models.Model):
    """A voice users can generate with: a built-in one of the engine, or a user's clone."""

    class Kind(models.TextChoices):
        BUILTIN = "builtin", "Built-in"
        CLONE = "clone", "Clone"

    class Gender(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        UNKNOWN = "", "Unknown"

    class FitStatus(models.TextChoices):
        """A clone's background fit (voices.services.voice_fit): usable from its quick profile
        throughout; "improved" once a fitted profile beat it on held-out sentences, "kept" if not."""

        NONE = "", "None"
        QUEUED = "queued", "Queued"
        FITTING = "fitting", "Improving"
        IMPROVED = "improved", "Improved"
        KEPT = "kept", "Kept as it was"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    speaker_name = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The engine's own name for a built-in voice; clones are spoken by their profile instead.
    engine_voice = models.CharField(max_length=80)
    gender = models.CharField(max_length=10, choices=Gender.choices, blank=True)
    language = models.CharField(max_length=16, default="en-US")
    description = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="voices"
    )
    is_active = models.BooleanField(default=True)
    # A clone's speaker profile, made by the engine from the reference; all it needs to speak.
    profile = models.JSONField(null=True, blank=True)
    # A few seconds of the voice speaking, to listen to before choosing it.
    preview = models.FileField(storage=audio_storage, upload_to="previews/", blank=True)
    # The reference recording (normalised, never the raw upload), kept only while the clone's fit
    # waits or runs, then deleted; for good only when VOICE_CLONE_KEEP_REFERENCE is on.
    reference = models.FileField(storage=audio_storage, upload_to="references/", blank=True)
    fit_status = models.CharField(max_length=10, choices=FitStatus.choices, blank=True, default=FitStatus.NONE)
    fit_progress = models.FloatField(default=0.0)
    # Held-out scores of the quick profile ("start") and of the fitted one ("fitted").
    fit_scores = models.JSONField(null=True, blank=True)
    # Touched while the fit runs; one silent too long lost its worker (voices.services.voice_fits_sweep).
    fit_heartbeat_at = models.DateTimeField(null=True, blank=True)
    fit_finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "speaker_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="builtin", owner__isnull=True) | models.Q(kind="clone", owner__isnull=False),
                name="voice_builtin_has_no_owner_clone_has_one",
            ),
            models.UniqueConstraint(
                fields=["speaker_name"], condition=models.Q(kind="builtin"), name="voice_builtin_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.speaker_name

    @property
    def is_clone(self) -> bool:
        return self.kind == self.Kind.CLONE

    @property
    def fit_running(self) -> bool:
        return self.fit_status in (self.FitStatus.QUEUED, self.FitStatus.FITTING)

    @property
    def fit_label(self) -> str:
        """What the Studio says of the fit (static/studio/fit.js says the same when it changes)."""
        if self.fit_running:
            return f"improving your voice… {round(self.fit_progress * 100)}%"
        if self.fit_status == self.FitStatus.IMPROVED:
            return "improved"
        if self.fit_status in (self.FitStatus.KEPT, self.FitStatus.FAILED):
            return "kept as it was"
        return ""


class PronunciationRule(models.Model):
    """A rule of an account's pronunciation dictionary: where the text says ``match`` (a word or a
    phrase), the voice says ``alias`` or the IPA sounds ``ipa`` (exactly one). Applied to every
    generation of the account, and of the members of the teams it is shared with
    (core.pronunciation.script_pronounce)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pronunciation_rules")
    match = models.CharField(max_length=100)
    alias = models.CharField(max_length=200, blank=True)
    ipa = models.CharField("IPA", max_length=200, blank=True)
    case_sensitive = models.BooleanField(default=False)
    whole_word = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["match"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(alias="") & ~models.Q(ipa="")) | (~models.Q(alias="") & models.Q(ipa="")),
                name="pronunciation_alias_or_ipa",
            ),
            models.UniqueConstraint(fields=["owner", "match"], name="pronunciation_match_once_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.match} → {self.alias or '/' + self.ipa + '/'}"


class PronunciationShare(models.Model):
    """An account's whole pronunciation dictionary shared with a team it belongs to: its members'
    generations use the rules too, for as long as both are in the team."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pronunciation_shares")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="pronunciation_shares")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "team"], name="pronunciation_share_once_per_team")]

    def __str__(self) -> str:
        return f"{self.owner}'s pronunciations → {self.team}"
