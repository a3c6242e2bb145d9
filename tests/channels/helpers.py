import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
TWILIO_MESSAGES_URL = (
    "https://api.twilio.com/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json"
)


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text().strip()
