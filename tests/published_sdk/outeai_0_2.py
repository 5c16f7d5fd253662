"""Run with the published legacy `outeai==0.2.1` (its own virtualenv): TTSClient as its docs show,
with the module-level API_URL pointed at this server. Prints JSON for the test to judge."""

import json
import sys
import tempfile
from pathlib import Path

import outeai.api.v1 as legacy

base_url, token = sys.argv[1:3]
legacy.API_URL = f"{base_url}/api/v1/tts"
out = Path(tempfile.mkdtemp()) / "output.flac"

client = legacy.TTSClient(token=token)
output = client.generate(
    text="Hello, how are you doing today?", temperature=0.4, speaker={"default": "EN-FEMALE-1-NEUTRAL"}
)
output.save(str(out))
report = {"path": str(out)}
try:
    legacy.TTSClient(token="oute_not_a_token").generate(text="Hi", speaker={"default": "EN-FEMALE-1-NEUTRAL"})
    report["bad_token"] = None
except ValueError as error:
    report["bad_token"] = str(error)
print(json.dumps(report))
