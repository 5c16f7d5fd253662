"""When someone's access to a session ends, their open sockets on it hear of it (core.realtime)
and close before any later update; hooked on the models, so every path (services, admin, cascades)
is covered."""

from allauth.account.signals import password_changed, password_reset, password_set
from allauth.usersessions.models import UserSession
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Membership, User
from core.files import stored_files_delete_on_commit
from core.realtime import sessions_access_check_on_commit, user_access_check_on_commit, user_signed_out_broadcast
from studio.models import Generation, GenerationRendition, Session, SessionShare


@receiver(post_delete, sender=Membership, dispatch_uid="studio.membership_ended")
def membership_ended(sender, instance: Membership, **kwargs) -> None:
    """Removed from a team, or left it (or the team was deleted): the sessions shared with it."""
    shared = SessionShare.objects.filter(team_id=instance.team_id).values_list("session_id", flat=True)
    sessions_access_check_on_commit(list(shared), user_id=instance.user_id)


@receiver(post_delete, sender=SessionShare, dispatch_uid="studio.share_ended")
def share_ended(sender, instance: SessionShare, **kwargs) -> None:
    """Sharing stopped, or the team was deleted: everyone on the session looks again (one may
    still see it through another team)."""
    sessions_access_check_on_commit([instance.session_id])


@receiver(post_save, sender=SessionShare, dispatch_uid="studio.share_changed")
def share_changed(sender, instance: SessionShare, created: bool, **kwargs) -> None:
    """A role changed (viewer, editor): not a loss of access, but the sockets learn the new role."""
    if not created:
        sessions_access_check_on_commit([instance.session_id])


@receiver(post_delete, sender=Session, dispatch_uid="studio.session_deleted")
def session_deleted(sender, instance: Session, **kwargs) -> None:
    sessions_access_check_on_commit([instance.id])


@receiver(post_save, sender=User, dispatch_uid="studio.user_deactivated")
def user_deactivated(sender, instance: User, **kwargs) -> None:
    if not instance.is_active:
        user_access_check_on_commit(instance.id)


@receiver(user_logged_out, dispatch_uid="studio.user_signed_out")
def user_signed_out(sender, request, user, **kwargs) -> None:
    """Sent before the session is flushed, so the sockets cannot read that yet: told directly."""
    if user is not None:
        user_signed_out_broadcast(user.id, request.session.session_key if request is not None else None)


@receiver(post_delete, sender=UserSession, dispatch_uid="studio.browser_session_ended")
def browser_session_ended(sender, instance: UserSession, **kwargs) -> None:
    """A sign-in ended from elsewhere ("Sign out every other session", allauth's session list):
    that browser's sockets close as at a sign-out."""
    user_id, session_key = instance.user_id, instance.session_key
    transaction.on_commit(lambda: user_signed_out_broadcast(user_id, session_key))


@receiver(password_changed, dispatch_uid="studio.password_changed")
@receiver(password_reset, dispatch_uid="studio.password_reset")
@receiver(password_set, dispatch_uid="studio.password_set")
def password_replaced(sender, request, user, **kwargs) -> None:
    """A new password invalidates the account's other sign-ins (Django's session hash): their sockets
    look again and close; the browser that changed it keeps its own, re-signed already."""
    user_access_check_on_commit(user.id)


@receiver(post_delete, sender=Generation, dispatch_uid="studio.generation_removed")
def generation_removed(sender, instance: Generation, **kwargs) -> None:
    """However a generation goes (its delete carried through, its account deleted in the admin), its
    audio goes with it."""
    stored_files_delete_on_commit(instance.audio)


@receiver(post_delete, sender=GenerationRendition, dispatch_uid="studio.rendition_removed")
def rendition_removed(sender, instance: GenerationRendition, **kwargs) -> None:
    """A download's encoding goes with its generation (the cascade deletes the row)."""
    stored_files_delete_on_commit(instance.file)
