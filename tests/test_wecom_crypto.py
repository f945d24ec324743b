"""Tests for channels.wecom.crypto against Tencent's published WXBizMsgCrypt sample vectors.

The vectors (token "QDG6eK", CorpID "wx5823bf96d3bd56c7", EncodingAESKey
"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", the sample verify URL and the
sample POST) are copied from the official WeCom callback samples:
sbzhu/weworkapi_php callback/Sample.php (XML variant, incl. the expected
plaintext in its comment) and workweixin/weworkapi_cplusplus Sample.cpp (same
key/token/CorpID, URL and ciphertext). The echostr plaintext is what that
ciphertext decrypts to; it is also the value other public implementations
assert for this vector.
"""

from __future__ import annotations

import base64
import struct
import urllib.parse

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.wecom.crypto import (
    WeComCrypto,
    WeComCryptoError,
    check_timestamp,
    parse_xml,
)

# --- Tencent sample vectors -------------------------------------------------

TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

# GET /cgi-bin/wxpush?msg_signature=...&timestamp=...&nonce=...&echostr=... (as sent, URL-encoded)
VERIFY_QUERY = (
    "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780"
    "&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
)
VERIFY_ECHO_PLAIN = "1616140317555161061"

POST_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
POST_TIMESTAMP = "1409659813"
POST_NONCE = "1372623149"
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYu"
    "R+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcall"
    "crw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/"
    "T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
POST_BODY = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
).encode()
POST_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def _raw_encrypt(frame: bytes) -> str:
    """AES-256-CBC encrypt an already-padded frame with the sample key (no padding added)."""
    key = base64.b64decode(AES_KEY + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(frame) + enc.finalize()).decode()


def _frame(msg: bytes, rid: bytes = CORP_ID.encode()) -> bytes:
    return b"R" * 16 + struct.pack(">I", len(msg)) + msg + rid


def _signed_body(c: WeComCrypto, encrypt: str, ts: str = "1700000000", nonce: str = "42") -> tuple[str, str, str, bytes]:
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return c.signature(ts, nonce, encrypt), ts, nonce, body.encode()


# --- construction -----------------------------------------------------------


def test_key_must_be_43_chars() -> None:
    with pytest.raises(ValueError, match="43"):
        WeComCrypto(TOKEN, AES_KEY[:-1], CORP_ID)
    with pytest.raises(ValueError, match="base64"):
        WeComCrypto(TOKEN, "!" * 43, CORP_ID)


# --- official sample vectors -------------------------------------------------


def test_signature_matches_sample_url(crypto: WeComCrypto) -> None:
    q = dict(urllib.parse.parse_qsl(VERIFY_QUERY))
    assert crypto.signature(q["timestamp"], q["nonce"], q["echostr"]) == q["msg_signature"]


def test_verify_url_sample(crypto: WeComCrypto) -> None:
    q = dict(urllib.parse.parse_qsl(VERIFY_QUERY))  # URL-decoding: %2B -> '+', %2F -> '/', %3D -> '='
    assert q["echostr"].endswith("==") and "+" in q["echostr"]
    assert crypto.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]) == VERIFY_ECHO_PLAIN


def test_decrypt_sample_post(crypto: WeComCrypto) -> None:
    plain = crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    assert plain == POST_PLAIN
    fields = parse_xml(plain)
    assert fields["Content"] == "hello"
    assert fields["FromUserName"] == "mycreate"
    assert fields["ToUserName"] == CORP_ID
    assert fields["MsgType"] == "text"
    assert fields["MsgId"] == "4561255354251345929"
    assert fields["AgentID"] == "218"


def test_sample_post_body_fields(crypto: WeComCrypto) -> None:
    outer = parse_xml(POST_BODY)
    assert outer["Encrypt"] == POST_ENCRYPT and outer["AgentID"] == "218"


# --- round trip ----------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "<xml><ToUserName><![CDATA[mycreate]]></ToUserName><FromUserName><![CDATA[wx5823bf96d3bd56c7]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId><AgentID>128</AgentID></xml>",
        "<xml><Content><![CDATA[督办提醒：请于周五前提交材料 ✅]]></Content></xml>",
        "",  # empty message still gets a full frame
        "x" * (-(20 + len(CORP_ID)) % 32),  # frame already block-aligned -> a full 32-byte pad block
    ],
)
def test_encrypt_reply_then_decrypt(crypto: WeComCrypto, reply: str) -> None:
    out = crypto.encrypt_message(reply, nonce=POST_NONCE, timestamp=POST_TIMESTAMP)
    fields = parse_xml(out)
    assert set(fields) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert fields["TimeStamp"] == POST_TIMESTAMP and fields["Nonce"] == POST_NONCE
    assert fields["MsgSignature"] == crypto.signature(POST_TIMESTAMP, POST_NONCE, fields["Encrypt"])
    assert len(base64.b64decode(fields["Encrypt"])) % 32 == 0
    # The reply envelope carries exactly what decrypt_message needs.
    assert crypto.decrypt_message(fields["MsgSignature"], POST_TIMESTAMP, POST_NONCE, out.encode()) == reply


def test_encrypt_is_randomised(crypto: WeComCrypto) -> None:
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_encrypt_message_rejects_unsafe_nonce(crypto: WeComCrypto) -> None:
    with pytest.raises(ValueError):
        crypto.encrypt_message("<xml/>", nonce="]]><x>", timestamp="1")
    with pytest.raises(ValueError):
        crypto.encrypt_message("<xml/>", nonce="1", timestamp="12a")


# --- rejections -------------------------------------------------------------------


def test_forged_signature(crypto: WeComCrypto) -> None:
    forged = "0" * 40
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(forged, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    assert ei.value.reason == "bad_signature"
    # Signature over other params (replayed with a new timestamp) also fails.
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(POST_SIGNATURE, "1409659814", POST_NONCE, POST_BODY)
    assert ei.value.reason == "bad_signature"
    q = dict(urllib.parse.parse_qsl(VERIFY_QUERY))
    with pytest.raises(WeComCryptoError) as ei:
        crypto.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", q["timestamp"], q["nonce"], q["echostr"])
    assert ei.value.reason == "bad_signature"
    with pytest.raises(WeComCryptoError) as ei:  # non-ASCII junk must not raise TypeError
        crypto.verify_url("签名", q["timestamp"], q["nonce"], q["echostr"])
    assert ei.value.reason == "bad_signature"


def test_wrong_token_fails_signature() -> None:
    other = WeComCrypto("not-the-token", AES_KEY, CORP_ID)
    with pytest.raises(WeComCryptoError) as ei:
        other.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    assert ei.value.reason == "bad_signature"


def test_wrong_corp_id() -> None:
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    with pytest.raises(WeComCryptoError) as ei:
        other.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_BODY)
    assert ei.value.reason == "bad_receive_id"
    q = dict(urllib.parse.parse_qsl(VERIFY_QUERY))
    with pytest.raises(WeComCryptoError) as ei:
        other.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
    assert ei.value.reason == "bad_receive_id"


def test_truncated_ciphertext(crypto: WeComCrypto) -> None:
    raw = base64.b64decode(POST_ENCRYPT)
    for cut in (raw[:-1], raw[:-16], raw[:10], b""):
        encrypt = base64.b64encode(cut).decode()
        sig, ts, nonce, body = _signed_body(crypto, encrypt)
        with pytest.raises(WeComCryptoError) as ei:
            if encrypt:
                crypto.decrypt_message(sig, ts, nonce, body)
            else:
                crypto.verify_url(sig, ts, nonce, encrypt)
        assert ei.value.reason in {"bad_ciphertext", "bad_padding"}, cut
        if len(cut) % 16:
            assert ei.value.reason == "bad_ciphertext"


def test_not_base64(crypto: WeComCrypto) -> None:
    encrypt = "not base64 at all!!"
    with pytest.raises(WeComCryptoError) as ei:
        crypto.verify_url(crypto.signature("1", "2", encrypt), "1", "2", encrypt)
    assert ei.value.reason == "bad_ciphertext"


@pytest.mark.parametrize("last", [0, 33, 255])
def test_bad_padding_value(crypto: WeComCrypto, last: int) -> None:
    frame = _frame(b"<xml/>")
    frame += b"\x00" * ((-len(frame) - 1) % 32) + bytes([last])
    assert len(frame) % 32 == 0
    sig, ts, nonce, body = _signed_body(crypto, _raw_encrypt(frame))
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(sig, ts, nonce, body)
    assert ei.value.reason == "bad_padding"


def test_inconsistent_padding_bytes(crypto: WeComCrypto) -> None:
    frame = _frame(b"<xml/>")
    pad = 32 - len(frame) % 32
    assert pad >= 2
    frame += bytes([pad ^ 1]) + bytes([pad]) * (pad - 1)
    sig, ts, nonce, body = _signed_body(crypto, _raw_encrypt(frame))
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(sig, ts, nonce, body)
    assert ei.value.reason == "bad_padding"


def test_length_field_past_end(crypto: WeComCrypto) -> None:
    frame = b"R" * 16 + struct.pack(">I", 10_000) + b"<xml/>" + CORP_ID.encode()
    pad = 32 - len(frame) % 32
    frame += bytes([pad]) * pad
    sig, ts, nonce, body = _signed_body(crypto, _raw_encrypt(frame))
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(sig, ts, nonce, body)
    assert ei.value.reason == "bad_ciphertext"


def test_body_without_encrypt(crypto: WeComCrypto) -> None:
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, b"<xml><ToUserName>x</ToUserName></xml>")
    assert ei.value.reason == "bad_xml"


# --- XML hardening ------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><Encrypt>&lol9;</Encrypt></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&xxe;</Encrypt></xml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">
<xml><Encrypt>abc</Encrypt></xml>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"])
def test_hostile_xml_refused(crypto: WeComCrypto, doc: bytes) -> None:
    with pytest.raises(WeComCryptoError) as ei:
        parse_xml(doc)
    assert ei.value.reason == "bad_xml"
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, doc)
    assert ei.value.reason == "bad_xml"


@pytest.mark.parametrize("doc", [b"", b"<xml>", b"not xml", b"<root><a>1</a></root>"])
def test_malformed_xml(doc: bytes) -> None:
    with pytest.raises(WeComCryptoError) as ei:
        parse_xml(doc)
    assert ei.value.reason == "bad_xml"


def test_oversized_body(crypto: WeComCrypto) -> None:
    big = b"<xml><Encrypt>" + b"A" * (64 * 1024) + b"</Encrypt></xml>"
    with pytest.raises(WeComCryptoError) as ei:
        crypto.decrypt_message(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, big)
    assert ei.value.reason == "too_large"
    with pytest.raises(WeComCryptoError) as ei:
        parse_xml(b"<xml><A>1</A></xml>", max_bytes=10)
    assert ei.value.reason == "too_large"
    # The cap is checked before parsing: an oversized bomb is "too_large", not expanded.
    with pytest.raises(WeComCryptoError) as ei:
        parse_xml(BILLION_LAUGHS, max_bytes=100)
    assert ei.value.reason == "too_large"
    with pytest.raises(WeComCryptoError) as ei:
        crypto.verify_url("x", "1", "2", "A" * 100, max_bytes=64)
    assert ei.value.reason == "too_large"


def test_parse_xml_event_and_nested() -> None:
    doc = (
        "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event>"
        "<EventKey><![CDATA[menu_todo]]></EventKey><AgentID>1000002</AgentID><Empty></Empty>"
        "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[ok]]></ScanResult></ScanCodeInfo>"
        "<Content><![CDATA[  spaced  ]]></Content></xml>"
    )
    f = parse_xml(doc)
    assert f["Event"] == "click" and f["EventKey"] == "menu_todo" and f["AgentID"] == "1000002"
    assert f["Empty"] == ""
    assert f["ScanCodeInfo.ScanResult"] == "ok" and f["ScanCodeInfo.ScanType"] == "qrcode"
    assert f["Content"] == "  spaced  "
    assert parse_xml(doc.encode()) == f


# --- timestamp window -------------------------------------------------------------------


def test_timestamp_window() -> None:
    check_timestamp("1700000000", 1700000000, 300)
    check_timestamp("1700000300", 1700000000, 300)  # boundary, future
    check_timestamp("1699999700", 1700000000, 300)  # boundary, past
    for ts in ("1700000301", "1699999699", "0"):
        with pytest.raises(WeComCryptoError) as ei:
            check_timestamp(ts, 1700000000, 300)
        assert ei.value.reason == "stale_timestamp"
    with pytest.raises(WeComCryptoError) as ei:
        check_timestamp("abc", 1700000000, 300)
    assert ei.value.reason == "bad_timestamp"
    # 0 disables the check: the 2014 sample timestamp passes.
    check_timestamp(POST_TIMESTAMP, 1700000000, 0)
    check_timestamp("garbage", 1700000000, 0)
