"""HTML pieces the pages share."""

from django.utils.safestring import SafeString, mark_safe

# What django.utils.html.json_script escapes, so that no JSON can close its <script>.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def json_script_of(json_text: str, element_id: str) -> SafeString:
    """Django's json_script for JSON already serialised (the Studio's feed is built as text)."""
    data = json_text.translate(_SCRIPT_ESCAPES)
    return mark_safe(f'<script id="{element_id}" type="application/json">{data}</script>')  # noqa: S308
