import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.files import audio_storage


class Session(models.Model):
    """A Studio session: a named feed of generations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_sessions")
    title = models.CharField(max_length=120, default="Untitled session")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when its owner deletes it: hidden at once; removed once its generations have ended and settled.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"]),
            # The few waiting for removal, for the sweep.
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="session_deleted"),
        ]

    def __str__(self) -> str:
        return self.title


class Generation(models.Model):
    """One text spoken in one voice: the job, its live state and, when done, its audio."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    class Stage(models.TextChoices):
        NONE = "", "None"
        WARMING_UP = "warming_up", "Warming up"
        GENERATING = "generating", "Generating"

    class Source(models.TextChoices):
        STUDIO = "studio", "Studio"
        API = "api", "API"
        LEGACY_API = "legacy_api", "Legacy API"
        OPENAI = "openai", "OpenAI-compatible API"

    class Delivery(models.TextChoices):
        # The caller hears the audio as it is made (the Studio, tts_stream): after a failure it
        # still has, and pays for, what came before it.
        PROGRESSIVE = "progressive", "As it is made"
        # The audio reaches the caller only once the text is done (tts_non_stream, the legacy
        # API): a generation that does not finish delivers, and costs, nothing.
        WHOLE = "whole", "Once done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The account that asked for it (and pays); API generations belong to no session.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    session = models.ForeignKey(Session, null=True, blank=True, on_delete=models.CASCADE, related_name="generations")
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.STUDIO)
    delivery = models.CharField(max_length=12, choices=Delivery.choices, default=Delivery.PROGRESSIVE)
    api_token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="generations"
    )
    voice = models.ForeignKey("voices.Voice", null=True, on_delete=models.SET_NULL, related_name="generations")
    # Kept so the feed still names the voice after a clone is deleted.
    voice_name = models.CharField(max_length=80)
    # The input as the caller sent it (plain text, or markup: docs/timing.md, "Markup").
    text = models.TextField()
    # What is spoken: the input's script (core.markup.script_to_json: pieces to say, pointing at
    # `text`'s characters, and pauses), made once here so a job resumed or taken over by another
    # worker speaks the same. Empty on generations made before markup (their `text` is spoken).
    script = models.JSONField(default=list, blank=True)
    # The text's language as a primary tag ("en", "ja"): as the request named it, or detected from
    # the text; the engine phonemises by it. Blank on generations made before languages.
    language = models.CharField(max_length=8, blank=True, default="")
    # Sampling temperature passed to the engine (the legacy API's `temperature`); None: its default.
    temperature = models.FloatField(null=True, blank=True)
    # OpenAI's `instructions` (/v1/audio/speech): kept as asked; the CPU engine does not act on it.
    instructions = models.TextField(blank=True, default="")
    # The speaking rate asked for (0.25..4.0, 1: the voice's own pace); the engine speaks at it.
    speed = models.FloatField(default=1.0)
    # The format the API caller asked for (core.audio_formats: wav, mp3, opus, aac, flac, pcm); the
    # stored audio is WAV whatever it is, the answer is encoded from it.
    response_format = models.CharField(max_length=8, default="wav")
    # Verified take (engine/verify.py): each chunk heard back and spoken again once, free, if its
    # words did not match. `verification` is what the check found (None: not asked): status
    # (passed, failed, unchecked), the counts, the failed chunk numbers and each chunk's check.
    verify = models.BooleanField(default=False)
    verification = models.JSONField(null=True, blank=True)
    # When each word is said (engine/README.md, "Word timings"): {"chunk", "text", "start", "end",
    # "char_start", "char_end"}, seconds from the take's start, offsets into `text`; the chunks
    # kept so far. Empty where the engine times none (Japanese).
    words = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=12, choices=Stage.choices, blank=True, default="")
    chunk = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text="Seconds of audio produced")
    # The longest audio this text may become; the engine is told not to exceed it, and it prices the hold.
    max_seconds = models.FloatField(default=0.0)
    cost = models.BigIntegerField(default=0, help_text="micro-credits charged")
    audio = models.FileField(storage=audio_storage, upload_to="generations/", blank=True)
    peaks = models.JSONField(default=list, blank=True)
    # On failure: the API's error code (e.g. TTS_PROVIDER_UNAVAILABLE) and words for a person.
    error_code = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Kept by the claim and the running job (studio.job): how many times a worker took it, which
    # worker runs it now (hostname:pid, blank while queued), when that worker took it and when it
    # last showed life. The row is the queue: nothing else says who runs what.
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=100, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when it (or its session) is deleted: hidden at once, cancelled if under way, and removed
    # with its audio once it has ended and its hold is settled.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["session", "created_at"]),
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status"]),
            # The claim's reads: an account's queued and running work.
            models.Index(fields=["user", "status"], name="generation_user_status"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="generation_deleted"),
        ]

    def __str__(self) -> str:
        return f"{self.voice_name}: {self.text[:40]}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class GenerationRendition(models.Model):
    """A generation's audio encoded in a download format (MP3, FLAC, Opus), made once, on the first
    download, and kept beside its WAV; it goes with the generation (studio/signals.py)."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="renditions")
    format = models.CharField(max_length=8)  # a name in core.audio_formats.AUDIO_FORMATS
    file = models.FileField(storage=audio_storage, upload_to="renditions/")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["generation", "format"], name="rendition_once_per_format")]

    def __str__(self) -> str:
        return f"{self.generation_id}.{self.format}"


class AccountTurn(models.Model):
    """An account's place in the turns of fair dispatch (studio.job.claim): when a worker last took
    one of its generations. Its row is locked by a claim, so two workers never start the same
    account's work beyond its share."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="studio_turn"
    )
    served_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} served {self.served_at}"


class SessionShare(models.Model):
    """A session shared with a team: viewers listen and download, editors also generate (charged
    to the member who generates)."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        EDITOR = "editor", "Editor"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="shares")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="session_shares")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "team"], name="share_once_per_team")]

    def __str__(self) -> str:
        return f"{self.session} → {self.team} ({self.role})"
