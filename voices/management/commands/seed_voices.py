from django.core.management.base import BaseCommand

from voices.services import voices_sync_builtin


class Command(BaseCommand):
    help = "Create or update the built-in voices (run by `make run` and `make test`)."

    def handle(self, *args, **options) -> None:
        for voice in voices_sync_builtin():
            self.stdout.write(f"{voice.id}  {voice.speaker_name}")
