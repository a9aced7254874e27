"""The payload codec: AES-256-GCM, key ids in the metadata, rotation, plain payloads passed."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from followthrough.codec import (
    _PYDANTIC_JSON,
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadConverter,
    PayloadKeyError,
    encrypting_converter,
    key_id,
    parse_keys,
)
from followthrough.settings import MissingSecret, Settings
from followthrough.temporal import data_converter

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
STRANGER = bytes(32)
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ann@example.test"}')


class TestParseKeys:
    def test_newest_first_and_blanks_ignored(self) -> None:
        text = f"{base64.b64encode(NEW).decode()}, ,{base64.b64encode(OLD).decode()}"
        assert parse_keys(text) == [NEW, OLD]
        assert parse_keys("") == []

    @pytest.mark.parametrize(("value", "message"), [
        ("not base64!", "key 1 is not base64"),
        (base64.b64encode(b"short").decode(), "key 1 is 5 bytes; AES-256 needs 32"),
        (base64.b64encode(OLD).decode() + "," + base64.b64encode(bytes(16)).decode(),
         "key 2 is 16 bytes; AES-256 needs 32"),
    ])
    def test_bad_keys(self, value: str, message: str) -> None:
        with pytest.raises(PayloadKeyError, match=message):
            parse_keys(value)


class TestEncryptionCodec:
    async def test_round_trip_hides_the_data_and_names_the_key(self) -> None:
        codec = EncryptionCodec([OLD])
        [sealed] = await codec.encode([PLAIN])
        assert dict(sealed.metadata) == {"encoding": ENCODING, KEY_ID: key_id(OLD).encode()}
        assert b"ann@example.test" not in sealed.SerializeToString()
        assert len(sealed.data) == 12 + len(PLAIN.SerializeToString()) + 16  # nonce, text, tag
        assert await codec.decode([sealed]) == [PLAIN]

    async def test_each_encoding_uses_a_fresh_nonce(self) -> None:
        codec = EncryptionCodec([OLD])
        first, second = await codec.encode([PLAIN, PLAIN])
        assert first.data[:12] != second.data[:12]
        assert first.data != second.data

    async def test_after_rotation_the_new_key_encrypts_and_the_old_still_decrypts(self) -> None:
        [under_old] = await EncryptionCodec([OLD]).encode([PLAIN])
        rotated = EncryptionCodec([NEW, OLD])
        [under_new] = await rotated.encode([PLAIN])
        assert under_new.metadata[KEY_ID] == key_id(NEW).encode()
        assert await rotated.decode([under_old, under_new]) == [PLAIN, PLAIN]

    async def test_a_payload_under_a_key_we_lack_is_refused(self) -> None:
        [sealed] = await EncryptionCodec([STRANGER]).encode([PLAIN])
        with pytest.raises(PayloadKeyError, match=f"key '{key_id(STRANGER)}', which is not in FT_PAYLOAD_KEYS"):
            await EncryptionCodec([NEW, OLD]).decode([sealed])

    async def test_tampered_or_relabelled_ciphertext_fails_authentication(self) -> None:
        codec = EncryptionCodec([NEW, OLD])
        [sealed] = await EncryptionCodec([OLD]).encode([PLAIN])
        flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
        relabelled = Payload(metadata={**sealed.metadata, KEY_ID: key_id(NEW).encode()}, data=sealed.data)
        for bad in (flipped, relabelled):
            with pytest.raises(PayloadKeyError, match="fails authentication"):
                await codec.decode([bad])

    async def test_payloads_without_our_encoding_pass_through(self) -> None:
        # Histories recorded before encryption (the stored replay histories) keep decoding.
        assert await EncryptionCodec([OLD]).decode([PLAIN]) == [PLAIN]

    def test_needs_a_key(self) -> None:
        with pytest.raises(PayloadKeyError, match="at least one payload key"):
            EncryptionCodec([])


class TestEncryptingConverter:
    async def test_values_round_trip_and_plain_payloads_still_decode(self) -> None:
        converter = encrypting_converter([OLD])
        [sealed] = await converter.encode([{"phone": "+15551234567"}])
        assert sealed.metadata["encoding"] == ENCODING
        assert b"+15551234567" not in sealed.data
        assert await converter.decode([sealed]) == [{"phone": "+15551234567"}]
        [plain] = await pydantic_data_converter.encode([{"phone": "+15551234567"}])
        assert await converter.decode([plain]) == [{"phone": "+15551234567"}]

    async def test_failure_messages_are_encrypted(self) -> None:
        from temporalio.api.failure.v1 import Failure
        from temporalio.exceptions import ApplicationError

        converter = encrypting_converter([OLD])
        failure = Failure()
        await converter.encode_failure(ApplicationError("bounce for ann@example.test"), failure)
        assert failure.message == "Encoded failure"
        assert b"ann@example.test" not in failure.SerializeToString()
        decoded = await converter.decode_failure(failure)
        assert str(decoded) == "bounce for ann@example.test"


class TestDataConverter:
    """followthrough.temporal.data_converter: the one converter, keyed by FT_PAYLOAD_KEYS."""

    async def test_encrypts_with_the_first_configured_key(self, settings: Settings) -> None:
        rotated = settings.model_copy(update={
            "payload_keys": f"{base64.b64encode(NEW).decode()},{base64.b64encode(OLD).decode()}"})
        [sealed] = await data_converter(rotated).encode(["x"])
        assert sealed.metadata[KEY_ID] == key_id(NEW).encode()
        [under_old] = await encrypting_converter([OLD]).encode(["y"])
        assert await data_converter(rotated).decode([under_old]) == ["y"]

    def test_no_payload_key_fails_fast(self, settings: Settings) -> None:
        with pytest.raises(MissingSecret, match="FT_PAYLOAD_KEYS is not set"):
            data_converter(settings.model_copy(update={"payload_keys": ""}))


class TestPayloadConverter:
    def test_every_instance_shares_the_type_adapters(self) -> None:
        """The SDK builds a payload converter per workflow instance: pydantic's adapters (and
        the schemas behind them) must be built once per process, not once per run."""
        from followthrough.models.contact import ContactSnapshot

        first, second = PayloadConverter(), PayloadConverter()
        [payload] = first.to_payloads([ContactSnapshot(id=7, attributes={"plan": "gold"})])
        assert first.converters[b"json/plain"] is second.converters[b"json/plain"] is _PYDANTIC_JSON
        cache = _PYDANTIC_JSON._type_adapter
        first.from_payloads([payload], [ContactSnapshot])
        before = cache.cache_info()
        [back] = second.from_payloads([payload], [ContactSnapshot])
        assert back == ContactSnapshot(id=7, attributes={"plan": "gold"})
        after = cache.cache_info()  # the second instance found the first one's adapter
        assert (after.hits, after.misses) == (before.hits + 1, before.misses)

    def test_the_encrypting_converter_uses_it(self) -> None:
        converter = encrypting_converter([OLD])
        assert converter.payload_converter_class is PayloadConverter
