"""WeCom (企业微信) callback crypto: the WXBizMsgCrypt protocol.

WeCom signs and AES-encrypts every callback it sends to the bot (the GET
URL-verification probe and each POSTed message/event), and expects passive
replies to be encrypted the same way. This module implements that protocol
with ``cryptography`` only (no Tencent SDK, no pycryptodome):

* key = base64decode(EncodingAESKey + "=") (32 bytes), IV = key[:16],
  AES-256-CBC, PKCS#7 padding to a multiple of **32** bytes (pad value 1..32);
* plaintext frame = 16 random bytes | 4-byte big-endian length | msg | receive id
  (the CorpID for an internal app, the SuiteID for a third-party suite);
* signature = sha1(''.join(sorted([token, timestamp, nonce, encrypt]))) in hex.

It also holds the hardened XML parsing used for callback bodies
(:func:`parse_xml`, via ``defusedxml`` with DTDs refused and a size cap) and a
timestamp-window helper (:func:`check_timestamp`). Every failure raises
:class:`WeComCryptoError` whose ``reason`` the HTTP layer maps to a 4xx; the
secrets (token, key) are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import struct
import xml.etree.ElementTree as _std_et

import defusedxml
import defusedxml.ElementTree as safe_et
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_MAX_XML_BYTES",
    "WeComCrypto",
    "WeComCryptoError",
    "check_timestamp",
    "parse_xml",
]

#: PKCS#7 block size used by WXBizMsgCrypt (not the AES block size of 16).
BLOCK_SIZE = 32
#: Default cap on a callback body / XML document, checked before parsing.
DEFAULT_MAX_XML_BYTES = 64 * 1024

_RANDOM_PREFIX = 16
_LEN_FIELD = 4
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,20}$")
# Nonces from WeCom are decimal strings; be a little more liberal for replies
# we generate, but never allow characters that could break out of CDATA/XML.
_NONCE_RE = re.compile(r"^[0-9A-Za-z_.\-]{1,128}$")


class WeComCryptoError(Exception):
    """A callback failed verification, decryption or parsing.

    ``reason`` is a short machine code for the HTTP layer (all map to 4xx):

    ``bad_signature``   msg_signature does not match;
    ``bad_receive_id``  decrypted frame names another CorpID/SuiteID;
    ``bad_padding``     PKCS#7 padding invalid (value 0, > 32, or inconsistent);
    ``bad_ciphertext``  not base64, not whole AES blocks, truncated frame, bad UTF-8;
    ``bad_xml``         malformed XML, DTD/entities present, missing <Encrypt>;
    ``too_large``       body over the size limit (checked before parsing);
    ``stale_timestamp`` timestamp outside the allowed window;
    ``bad_timestamp``   timestamp is not a decimal integer.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"WeComCryptoError(reason={self.reason!r}, message={str(self)!r})"


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _cdata(text: str) -> str:
    """Wrap ``text`` in CDATA, splitting any embedded ``]]>`` safely."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def parse_xml(text_or_bytes: str | bytes, max_bytes: int = DEFAULT_MAX_XML_BYTES) -> dict[str, str]:
    """Parse a flat WeCom XML document into ``{tag: text}``.

    The size is checked (as UTF-8 bytes) *before* parsing, and parsing goes
    through ``defusedxml`` with DTDs forbidden, so entity bombs and external
    entities are refused. The root element must be ``<xml>``. Each child of the
    root becomes a key (ToUserName, FromUserName, CreateTime, MsgType, Content,
    MsgId, AgentID, Event, EventKey, Encrypt, ...) with its text ('' if empty;
    CDATA content is kept verbatim, not stripped). Leaves of nested elements
    (e.g. ``<ScanCodeInfo><ScanResult>``) are added as ``"Parent.Child"``.
    For a repeated tag the first occurrence wins.

    Raises :class:`WeComCryptoError` ``too_large`` or ``bad_xml``.
    """
    data = _to_bytes(text_or_bytes)
    if max_bytes and len(data) > max_bytes:
        raise WeComCryptoError("too_large", f"XML is {len(data)} bytes, limit {max_bytes}")
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise WeComCryptoError("bad_xml", f"refused XML construct: {type(exc).__name__}") from None
    except (_std_et.ParseError, ValueError) as exc:
        raise WeComCryptoError("bad_xml", f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise WeComCryptoError("bad_xml", f"root element is <{root.tag}>, expected <xml>")
    result: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):  # pragma: no cover - comments/PIs are dropped by the parser
            continue
        result.setdefault(child.tag, child.text or "")
        for sub in child.iter():
            if sub is child or not isinstance(sub.tag, str) or len(sub):
                continue
            result.setdefault(f"{child.tag}.{sub.tag}", sub.text or "")
    return result


def check_timestamp(timestamp: str, now_epoch: int, max_skew_s: int) -> None:
    """Reject a callback whose ``timestamp`` is more than ``max_skew_s`` from now.

    ``max_skew_s == 0`` disables the check entirely. Raises
    :class:`WeComCryptoError` ``bad_timestamp`` (not a decimal integer) or
    ``stale_timestamp`` (outside the window, in either direction).
    """
    if max_skew_s <= 0:
        return
    if not isinstance(timestamp, str) or not _TIMESTAMP_RE.match(timestamp):
        raise WeComCryptoError("bad_timestamp", "timestamp is not a decimal integer")
    skew = abs(int(now_epoch) - int(timestamp))
    if skew > max_skew_s:
        raise WeComCryptoError("stale_timestamp", f"timestamp off by {skew}s (limit {max_skew_s}s)")


class WeComCrypto:
    """Verify, decrypt and encrypt WeCom callbacks for one app.

    ``token`` and ``encoding_aes_key`` are the values set on the app's
    "接收消息" (receive messages) page; ``receive_id`` is the CorpID (or the
    SuiteID for a third-party app) that every decrypted frame must carry.
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ValueError("WeCom token must be non-empty")
        if not receive_id:
            raise ValueError("WeCom receive_id (CorpID/SuiteID) must be non-empty")
        if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != 43:
            got = len(encoding_aes_key) if isinstance(encoding_aes_key, str) else type(encoding_aes_key).__name__
            raise ValueError(f"EncodingAESKey must be 43 chars (got {got})")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("EncodingAESKey is not valid base64 (expected 43 chars of [A-Za-z0-9+/])") from None
        if len(key) != 32:  # pragma: no cover - 43 valid chars + "=" always give 32 bytes
            raise ValueError(f"EncodingAESKey must decode to 32 bytes (got {len(key)})")
        self.token = token
        self.receive_id = receive_id
        self._key = key
        self._iv = key[:16]

    def __repr__(self) -> str:
        return f"WeComCrypto(receive_id={self.receive_id!r})"

    # -- signature -----------------------------------------------------

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """sha1 hex of the sorted [token, timestamp, nonce, encrypt] concatenated."""
        parts = sorted([self.token, str(timestamp), str(nonce), encrypt])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def _check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = self.signature(timestamp, nonce, encrypt)
        given = (msg_signature or "").strip().lower()
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8")):
            logger.debug("WeCom callback signature mismatch (timestamp=%s nonce=%s)", timestamp, nonce)
            raise WeComCryptoError("bad_signature", "msg_signature does not match")

    # -- AES frame -----------------------------------------------------

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext`` into the base64 ``Encrypt`` value (random prefix from os.urandom)."""
        msg = plaintext.encode("utf-8")
        frame = os.urandom(_RANDOM_PREFIX) + struct.pack(">I", len(msg)) + msg + self.receive_id.encode("utf-8")
        pad = BLOCK_SIZE - (len(frame) % BLOCK_SIZE)  # 1..32; a full block when already aligned
        frame += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        return base64.b64encode(encryptor.update(frame) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a base64 ``Encrypt`` value, check padding and receive id, return the message.

        Does **not** check the signature; use :meth:`verify_url` /
        :meth:`decrypt_message`, which check it first.
        """
        try:
            raw = base64.b64decode(_to_bytes(encrypt), validate=True)
        except (binascii.Error, ValueError):
            raise WeComCryptoError("bad_ciphertext", "Encrypt is not valid base64") from None
        if not raw or len(raw) % 16:
            raise WeComCryptoError("bad_ciphertext", f"ciphertext length {len(raw)} is not a positive multiple of 16")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        frame = decryptor.update(raw) + decryptor.finalize()
        pad = frame[-1]
        if not 1 <= pad <= BLOCK_SIZE or pad > len(frame) or frame[-pad:] != bytes([pad]) * pad:
            raise WeComCryptoError("bad_padding", "invalid PKCS#7 padding")
        frame = frame[:-pad]
        if len(frame) < _RANDOM_PREFIX + _LEN_FIELD:
            raise WeComCryptoError("bad_ciphertext", "frame shorter than its header")
        (msg_len,) = struct.unpack(">I", frame[_RANDOM_PREFIX : _RANDOM_PREFIX + _LEN_FIELD])
        start = _RANDOM_PREFIX + _LEN_FIELD
        if msg_len > len(frame) - start:
            raise WeComCryptoError("bad_ciphertext", "declared message length exceeds the frame")
        msg, rid = frame[start : start + msg_len], frame[start + msg_len :]
        if not hmac.compare_digest(rid, self.receive_id.encode("utf-8")):
            logger.debug("WeCom callback for another receive id (%d bytes)", len(rid))
            raise WeComCryptoError("bad_receive_id", "receive id in the message does not match")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise WeComCryptoError("bad_ciphertext", "message is not valid UTF-8") from None

    # -- protocol operations -------------------------------------------

    def verify_url(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        echostr: str,
        max_bytes: int = DEFAULT_MAX_XML_BYTES,
    ) -> str:
        """Handle the GET URL-verification probe; return the echostr plaintext to send back.

        ``echostr`` must already be URL-decoded (``%2B`` -> ``+``), as any
        normal query-string parser does.
        """
        if max_bytes and len(echostr) > max_bytes:
            raise WeComCryptoError("too_large", "echostr over the size limit")
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(
        self,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        body: bytes,
        max_bytes: int = DEFAULT_MAX_XML_BYTES,
    ) -> str:
        """Handle a POSTed callback body; return the inner plaintext XML string.

        Order: size cap -> safe XML parse -> <Encrypt> present -> signature
        (constant-time) -> AES-CBC decrypt -> padding -> receive id.
        """
        fields = parse_xml(body, max_bytes=max_bytes)
        encrypt = fields.get("Encrypt", "")
        if not encrypt:
            raise WeComCryptoError("bad_xml", "callback body has no <Encrypt>")
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_message(self, reply_xml: str, nonce: str, timestamp: str) -> str:
        """Encrypt a passive reply into WeCom's ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>``."""
        timestamp = str(timestamp)
        if not _TIMESTAMP_RE.match(timestamp):
            raise ValueError("timestamp must be a decimal integer string")
        if not _NONCE_RE.match(nonce):
            raise ValueError("nonce must be 1-128 chars of [0-9A-Za-z_.-]")
        encrypt = self.encrypt(reply_xml)
        signature = self.signature(timestamp, nonce, encrypt)
        return (
            "<xml>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt>"
            f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce>{_cdata(nonce)}</Nonce>"
            "</xml>"
        )
