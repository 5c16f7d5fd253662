import base64
import binascii
import functools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import get_script_prefix, reverse

from accounts.models import User
from billing.pricing import credits_format
from core.errors import ApplicationError
from engine.languages import LANGUAGE_NAMES
from studio.models import Generation, Session, SessionShare

ROLE_OWNER, ROLE_EDITOR, ROLE_VIEWER = "owner", "editor", "viewer"
# What the Studio offers to download (core.audio_formats' names): the take's WAV, and encodings
# of it made once, on the first download (studio.services.generation_rendition_get_or_create).
DOWNLOAD_FORMATS = ("wav", "mp3", "flac", "opus")
CAPTION_FORMATS = ("srt", "vtt")  # studio.captions writes them; it reads this module


@dataclass(frozen=True)
class SessionAccess:
    session: Session
    role: str  # owner, editor or viewer
    user_id: int

    @property
    def can_generate(self) -> bool:
        return self.role in (ROLE_OWNER, ROLE_EDITOR)

    @property
    def is_owner(self) -> bool:
        return self.role == ROLE_OWNER

    def may_manage(self, generation: Generation) -> bool:
        """Cancel or delete: the one who generated it, or the session's owner."""
        return self.may_manage_work_of(generation.user_id)

    def may_manage_work_of(self, user_id: int | None) -> bool:
        return self.is_owner or user_id == self.user_id


def _sessions_visible(user: User) -> QuerySet[Session]:
    """The sessions the user owns and those shared with a team of theirs (not deleted)."""
    return Session.objects.filter(Q(owner=user) | Q(shares__team__memberships__user=user), deleted_at__isnull=True)


def sessions_for_user(user: User) -> QuerySet[Session]:
    """The sessions the user owns and those shared with a team of theirs, newest first."""
    return (
        _sessions_visible(user)
        .annotate(shared=~Q(owner=user))
        .select_related("owner")
        .distinct()
        .order_by("-updated_at")
    )


@dataclass(frozen=True)
class SessionsPage:
    """A page of the sidebar's sessions (the attributes of Django's Page the template reads)."""

    items: list[Session]
    number: int
    has_next: bool

    def __iter__(self):
        return iter(self.items)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def sessions_page(user: User, *, page: str | None, size: int) -> SessionsPage:
    """A page of sessions_for_user, numbered from 1 (a bad number is the first page, one past the
    end the last, as Paginator.get_page): one query, one row more than the page tells whether a
    next page exists, so no COUNT is needed."""
    try:
        number = max(1, int(page or 1))
    except ValueError:
        number = 1
    sessions = sessions_for_user(user)
    window = list(sessions[(number - 1) * size : number * size + 1])
    if not window and number > 1:  # past the end: the last page
        number = max(1, -(-sessions.count() // size))
        window = list(sessions[(number - 1) * size : number * size + 1])
    return SessionsPage(items=window[:size], number=number, has_next=len(window) > size)


def session_access(user: User, session_id: uuid.UUID | str) -> SessionAccess | None:
    """What the user may do in a session, or None if they may not see it (callers answer 404)."""
    if not user.is_authenticated:
        return None
    try:
        session = Session.objects.filter(id=uuid.UUID(str(session_id)), deleted_at__isnull=True).first()
    except ValueError:
        return None
    if session is None:
        return None
    if session.owner_id == user.id:
        return SessionAccess(session, ROLE_OWNER, user.id)
    roles = set(
        SessionShare.objects.filter(session=session, team__memberships__user=user).values_list("role", flat=True)
    )
    if not roles:
        return None
    return SessionAccess(session, ROLE_EDITOR if SessionShare.Role.EDITOR in roles else ROLE_VIEWER, user.id)


def session_get_for_user(user: User, session_id: uuid.UUID | str) -> Session | None:
    access = session_access(user, session_id)
    return access.session if access else None


def generations_for_session(session: Session) -> QuerySet[Generation]:
    # Only the feed reads these (generations_feed_json): not the voice's row (its name is on the
    # generation), the script (a JSON as long as the text) nor the peaks (the feed copies their text).
    return session.generations.filter(deleted_at__isnull=True).defer("script", "peaks").order_by("created_at")


FEED_PAGE_SIZE = 50


def generations_page(
    session: Session, *, before: str | None = None, since: str | None = None
) -> tuple[list[Generation], bool]:
    """A window of the feed, oldest first, and whether earlier generations exist: the latest
    FEED_PAGE_SIZE (before a generation's id, to page back), or all since one (to catch up)."""
    generations = generations_for_session(session)
    if since:
        anchor = _generation_among(generations, since)
        if anchor is not None:
            window = list(generations.filter(created_at__gte=anchor.created_at))
            return window, generations.filter(created_at__lt=anchor.created_at).exists()
    if before:
        anchor = _generation_among(generations, before)
        if anchor is not None:
            generations = generations.filter(created_at__lt=anchor.created_at)
    newest = list(generations.order_by("-created_at")[: FEED_PAGE_SIZE + 1])
    return newest[:FEED_PAGE_SIZE][::-1], len(newest) > FEED_PAGE_SIZE


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _generation_among(generations: QuerySet[Generation], generation_id: str) -> Generation | None:
    """The generation of that id among these; None for an id that is not a UUID."""
    parsed = _uuid_or_none(generation_id)
    return generations.filter(id=parsed).first() if parsed is not None else None


def generation_get_for_user(user: User, generation_id: uuid.UUID | str) -> Generation | None:
    """A generation the user may see: one in a session they may see (even their own goes when their
    access to its session does), or one of their own API generations."""
    if not user.is_authenticated:
        return None
    try:
        generation = (
            Generation.objects.select_related("session")
            .filter(id=uuid.UUID(str(generation_id)), deleted_at__isnull=True)
            .first()
        )
    except ValueError:
        return None
    if generation is None:
        return None
    if generation.session_id is None:
        return generation if generation.user_id == user.id else None
    return generation if session_access(user, generation.session_id) else None


HISTORY_PAGE_SIZE = 20
HISTORY_PAGE_MAX = 100


class HistoryCursorError(ApplicationError):
    """An `after` that no page of the history gave out (VALIDATION_ERROR)."""

    def __init__(self) -> None:
        super().__init__("VALIDATION_ERROR", "after: not a cursor this history gave out; pass a page's `next`.")


@dataclass(frozen=True)
class HistoryPage:
    items: list[Generation]
    has_more: bool
    next: str | None  # the cursor of the page after this one; None on the last


def _history_cursor(generation: Generation) -> str:
    """An opaque cursor: the item's (created_at, id), the history's order, so a page's place holds
    whatever is made (newer, hence before it) while a client pages."""
    raw = f"{generation.created_at.isoformat()}|{generation.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _history_cursor_read(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, generation_id = raw.partition("|")
        when, parsed_id = datetime.fromisoformat(created_at), uuid.UUID(generation_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HistoryCursorError() from None
    if when.tzinfo is None:
        raise HistoryCursorError()
    return when, parsed_id


def generations_of_owner(*, user: User) -> QuerySet[Generation]:
    """Every generation the user made, whatever its source, that they may still see: not deleted,
    and in no session or in one they may see (as generation_get_for_user decides). A team member's
    generations in it are theirs, not the session owner's."""
    return Generation.objects.filter(user=user, deleted_at__isnull=True).filter(
        Q(session__isnull=True) | Q(session__in=_sessions_visible(user).values("id"))
    )


def generation_of_owner(*, user: User, generation_id: uuid.UUID | str) -> Generation | None:
    """One generation of the user's history; None for anyone else's (callers answer 404)."""
    parsed = _uuid_or_none(str(generation_id))
    return generations_of_owner(user=user).filter(id=parsed).first() if parsed is not None else None


def generations_history(
    *,
    user: User,
    voice: uuid.UUID | str | None = None,
    source: str | None = None,
    after: str | None = None,
    limit: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """A page of the user's history, newest first, optionally of one voice (its id) or one source
    (any Generation.Source value); `after` is the `next` of the page before."""
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise ApplicationError("VALIDATION_ERROR", f"limit: from 1 to {HISTORY_PAGE_MAX}.")
    generations = generations_of_owner(user=user).select_related("voice")
    if voice:
        voice_id = _uuid_or_none(str(voice))
        if voice_id is None:
            raise ApplicationError("VALIDATION_ERROR", "voice: must be a voice's id (a UUID).")
        generations = generations.filter(voice_id=voice_id)
    if source:
        if source not in Generation.Source.values:
            raise ApplicationError("VALIDATION_ERROR", f"source: one of {', '.join(Generation.Source.values)}.")
        generations = generations.filter(source=source)
    if after:
        created_at, generation_id = _history_cursor_read(after)
        generations = generations.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=generation_id))
    window = list(generations.order_by("-created_at", "-id")[: limit + 1])
    items, has_more = window[:limit], len(window) > limit
    return HistoryPage(items=items, has_more=has_more, next=_history_cursor(items[-1]) if has_more else None)


def history_voices(*, user: User) -> list[tuple[str, str]]:
    """(voice id, name) of each voice the user's history speaks in, for its filter; by name."""
    rows = (
        generations_of_owner(user=user)
        .filter(voice__isnull=False)
        .values_list("voice_id", "voice_name")
        .order_by("voice_name", "voice_id")
        .distinct()
    )
    named: dict[str, str] = {}
    for voice_id, name in rows:
        named.setdefault(str(voice_id), name)
    return sorted(((voice_id, name) for voice_id, name in named.items()), key=lambda pair: pair[1].lower())


def session_shares(session: Session) -> QuerySet[SessionShare]:
    return session.shares.select_related("team").order_by("team__name")


def generation_actions(viewer: SessionAccess, *, generated_by: int | None, status: str) -> dict:
    """The buttons the page shows the viewer: those the views would allow (`may_manage`)."""
    may_manage = viewer.may_manage_work_of(generated_by)
    return {"can_cancel": may_manage and status not in Generation.FINISHED, "can_delete": may_manage}


_URL_ID = uuid.UUID(int=0)


@functools.lru_cache(maxsize=16)
def _generation_url_pattern(name: str, script_prefix: str) -> str:
    return reverse(name, args=[_URL_ID])


def _generation_url(name: str, generation_id: uuid.UUID) -> str:
    """reverse(name, args=[generation_id]), resolved once per URL name: a page of 50 takes needs
    two URLs each, and reverse() is the most expensive part of a take's state."""
    return _generation_url_pattern(name, get_script_prefix()).replace(str(_URL_ID), str(generation_id))


def generation_state(generation: Generation, *, with_peaks: bool = True, viewer: SessionAccess | None = None) -> dict:
    """What the Studio shows of a generation; sent in the page and over the websocket (whose
    consumer adds the viewer's actions to each update)."""
    # Cancelled and failed generations keep the audio made before they stopped (and paid for).
    audio_url = _generation_url("studio:generation_audio", generation.id) if generation.audio else None
    return {
        "id": str(generation.id),
        "session_id": str(generation.session_id) if generation.session_id else None,
        "text": generation.text,
        "voice_id": str(generation.voice_id) if generation.voice_id else None,
        "voice_name": generation.voice_name,
        "source": generation.source,
        "source_name": generation.get_source_display(),
        "language": generation.language,
        "language_name": LANGUAGE_NAMES.get(generation.language, generation.language),
        "status": generation.status,
        "stage": generation.stage,
        "chunk": generation.chunk,
        "chunks": generation.chunks,
        "seconds": round(generation.seconds, 3),
        "error": generation.error,
        # The verified take's check (None: not asked); status "failed" marks a take in which some
        # words may be wrong.
        "verification": generation.verification,
        "cost": generation.cost,
        "cost_credits": credits_format(generation.cost),
        "created_at": generation.created_at.isoformat(),
        "audio_url": audio_url,
        "download_url": f"{audio_url}?download=1" if audio_url else None,
        # The Studio's download links, one a format; the WAV is the take itself.
        "downloads": generation_downloads(generation, audio_url=audio_url),
        # The full state (the page, a catch-up, a take's end) has the waveform and the words.
        **({"peaks": generation.peaks, "words": generation_word_marks(words=generation.words)} if with_peaks else {}),
        **(generation_actions(viewer, generated_by=generation.user_id, status=generation.status) if viewer else {}),
    }


def generations_feed_json(generations: list[Generation], *, viewer: SessionAccess) -> str:
    """The Studio's feed, as a JSON array of each take's full state (generation_state with its
    peaks and words), for the page and its catch-up. The peaks are copied as the database's text of
    them: decoding 400 numbers a take and encoding them back was most of the page's time. Each
    take's peaks are numbers only, so the text needs no more than its spaces taken out."""
    peaks = dict(
        Generation.objects.filter(id__in=[g.id for g in generations]).values_list("id", Cast("peaks", TextField()))
    )
    items = []
    for generation in generations:
        state = generation_state(generation, with_peaks=False, viewer=viewer)
        state["words"] = generation_word_marks(words=generation.words)
        state_json = json.dumps(state, cls=DjangoJSONEncoder, separators=(",", ":"))
        items.append(f'{state_json[:-1]},"peaks":{(peaks.get(generation.id) or "[]").replace(" ", "")}}}')
    return f"[{','.join(items)}]"


def generation_words(*, generation_id: uuid.UUID) -> list[dict]:
    """The take's words and when each is said (Generation.words), as its row has them now."""
    return Generation.objects.values_list("words", flat=True).get(id=generation_id) or []


def generation_words_written(*, words: list[dict]) -> list[dict]:
    """The take's words as written: the words said for one written form ("five dollars fifty"
    for "$5.50", an alias, a <say-as>) share its characters, and become one word from the first's
    start to the last's end, so a caption or the player shows "$5.50" once, for as long as it is
    said."""
    written: list[dict] = []
    for word in words or []:
        last = written[-1] if written else None
        if last is not None and (last["char_start"], last["char_end"]) == (word["char_start"], word["char_end"]):
            written[-1] = {**last, "text": f"{last['text']} {word['text']}", "end": word["end"]}
        else:
            written.append(word)
    return written


def generation_word_marks(*, words: list[dict]) -> list[list[float]]:
    """The take's words as the Studio's player follows them: [char_start, char_end, start, end]
    each, offsets into the take's text (the page cuts the words from the text it already has, so
    the user's punctuation and spacing stay) and seconds; compact, as the page holds 50 takes."""
    return [
        [w["char_start"], w["char_end"], round(w["start"], 3), round(w["end"], 3)]
        for w in generation_words_written(words=words)
    ]


def generation_downloads(generation: Generation, *, audio_url: str | None) -> dict[str, str]:
    """The Studio's download links, one a format (the WAV is the take itself), and the captions
    (SRT, VTT) of a take that knows when its words are said."""
    if not audio_url:
        return {}
    downloads = {name: f"{audio_url}?format={name}" for name in DOWNLOAD_FORMATS}
    if generation.words:
        captions_url = _generation_url("studio:generation_captions", generation.id)
        downloads |= {name: f"{captions_url}?format={name}" for name in CAPTION_FORMATS}
    return downloads


def generation_download_name(generation: Generation) -> str:
    """A download's name without its extension: the text's first words and the id's start."""
    slug = re.sub(r"[^a-z0-9]+", "-", generation.text[:40].lower()).strip("-") or "speech"
    return f"{slug}-{str(generation.id)[:8]}"
