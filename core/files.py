"""Private stored files: served with HTTP Range support, so players can seek without downloading
it all, and removed with the rows that name them."""

import re

from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

# At most 18 digits: larger numbers mean nothing for a file and would only cost time to read.


def audio_storage() -> Storage:
    """Where generations, previews and references are kept (settings.STORAGES["audio"])."""
    return storages["audio"]


_BYTE_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def ranged_file_response(
    request: HttpRequest, file: FieldFile, *, content_type: str, download_name: str | None = None
) -> HttpResponseBase:
    size = file.size
    match = _BYTE_RANGE.match(request.headers.get("Range", "").strip())
    response: HttpResponseBase
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:
            start, end = max(0, size - int(match[2])), size - 1
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with file.open("rb") as handle:
            handle.seek(start)
            response = HttpResponse(handle.read(end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(file.open("rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    if download_name:
        response["Content-Disposition"] = content_disposition_header(True, download_name)
    return response


def stored_files_delete_on_commit(*files: FieldFile) -> None:
    """Removes the files once the transaction that deleted their row commits (never before, so no
    row that stays names a missing file; a rolled-back delete keeps them)."""
    stored = [(file.storage, file.name) for file in files if file.name]

    def delete() -> None:
        for storage, name in stored:
            storage.delete(name)

    if stored:
        transaction.on_commit(delete)
