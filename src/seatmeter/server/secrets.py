"""Encryption at rest for the Autodesk credentials Seatmeter must reuse.

Client secrets and OAuth tokens have to be read back to call Autodesk, so
they are encrypted (Fernet: AES-128-CBC with an HMAC), never hashed. The
key comes from the `secret_key` setting or is generated once into the
data folder with owner-only permissions.
"""

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from seatmeter.server.settings import Settings, SettingsError

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with this server's key; "
                "every server process must use the same secret_key"
            ) from None


def load_box(settings: Settings) -> SecretBox:
    if settings.secret_key:
        # Its form was checked when the settings were loaded.
        return SecretBox(settings.secret_key.encode())
    return SecretBox(_key_from_file(settings.data_dir / KEY_FILE))


def _key_from_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: link fails if the name exists,
    # so when two processes race, both end up with the one winner's key,
    # and neither can read a half-written file.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(Fernet.generate_key())
    try:
        os.link(draft, path)
        log.info("generated a new encryption key in %s", path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
