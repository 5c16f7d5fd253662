"""One router a resource: speech, legacy, voices, clones, tokens, health (mounted by api.api)."""
