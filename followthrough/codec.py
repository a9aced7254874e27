"""The payload codec: AES-256-GCM over every Temporal payload, so history holds no personal data.

Each encrypted payload names the key that sealed it (``encryption-key-id`` metadata, a
fingerprint of the key), so keys rotate: the newest key encrypts, every configured key decrypts.
Payloads without our encoding pass through unchanged, so histories recorded before encryption
(and the stored replay histories) still decode.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12  # the GCM standard nonce; random per payload (NIST SP 800-38D §8.2.2)


class PayloadKeyError(ValueError):
    """A payload key that is not 32 bytes of base64, or a payload sealed with a key we lack."""


def parse_keys(value: str) -> list[bytes]:
    """Comma-separated base64 keys (newest first) as bytes; each must be 32 bytes."""
    keys: list[bytes] = []
    for position, item in enumerate(part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            key = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PayloadKeyError(f"key {position + 1} is not base64") from exc
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(f"key {position + 1} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        keys.append(key)
    return keys


def new_key() -> str:
    """A fresh random key, base64 (what ``followthrough dev`` writes to its data directory)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    """A stable, non-secret name for a key: the first 16 hex digits of a hash of it."""
    return hashlib.sha256(b"followthrough-payload-key:" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with a random nonce per payload; the key id is also the associated data, so a
    ciphertext cannot be relabelled with another key's id."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise PayloadKeyError("at least one payload key is needed")
        self._ciphers = [(key_id(k).encode(), AESGCM(k)) for k in keys]
        self._by_id = dict(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid, cipher = self._ciphers[0]
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), kid)
            encoded.append(Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)  # never encrypted (e.g. recorded before the codec)
                continue
            kid = payload.metadata.get(KEY_ID, b"")
            cipher = self._by_id.get(kid)
            if cipher is None:
                raise PayloadKeyError(
                    f"payload encrypted with key {kid.decode(errors='replace')!r}, which is not "
                    "in FT_PAYLOAD_KEYS (a key was removed before its histories closed?)"
                )
            data = payload.data
            try:
                plain = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], kid)
            except InvalidTag as exc:
                raise PayloadKeyError(f"payload under key {kid.decode()!r} fails authentication") from exc
            decoded.append(Payload.FromString(plain))
        return decoded


#: The process's one pydantic JSON converter. The SDK builds a payload converter for every
#: workflow instance (and every serialization context); pydantic's own class gives each a new
#: type-adapter cache, so every new run built its adapters again, the schema of each model
#: included (issue 9: ~4 % of the workflows worker's Python time in the burst). This one's cache
#: (type hint -> adapter, thread-safe) lives as long as the process.
_PYDANTIC_JSON = PydanticJSONPlainPayloadConverter()


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default encodings, JSON through pydantic, type adapters shared process-wide
    (a nullary class, as ``DataConverter.payload_converter_class`` wants)."""

    def __init__(self) -> None:
        super().__init__(*(
            _PYDANTIC_JSON if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


def encrypting_converter(keys: Sequence[bytes]) -> DataConverter:
    """Pydantic payloads, encrypted by :class:`EncryptionCodec`; failure messages and stack
    traces go into encoded attributes so they are encrypted too (an error text can name a
    person)."""
    return DataConverter(
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
