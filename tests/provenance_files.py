"""Image files carrying provenance, made on the spot for the tests (nothing is shipped).

    chain = make_signing_chain()                  # ES256 test CA + end-entity certificate
    signed = c2pa_sign(plain_jpeg, "image/jpeg", chain, source_type="trainedAlgorithmicMedia")

C2PA needs a real chain: a CA and an end-entity certificate with digitalSignature key
usage and the emailProtection extended key usage (a self-signed end-entity
certificate is refused). Nothing chains to a public root, so readers report the
signature as valid but untrusted unless the test CA is given as a trust anchor.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import zlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from ai_detector.inference.provenance.result import IPTC_SOURCE_TYPE_PREFIX
from tests.conftest import encode_image, textured_image

SIGNER_ORG = "ai-detector test signer"


@dataclass(frozen=True)
class SigningChain:
    chain_pem: bytes  # end-entity certificate, then the CA
    key_pem: bytes
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIGNER_ORG),
        ]
    )


def _usage(signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def make_signing_chain() -> SigningChain:
    now = dt.datetime.now(dt.UTC)
    ca_key, ee_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )

    def builder(
        subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )

    ca = (
        builder("ai-detector test CA", _name("ai-detector test CA"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(signing=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ee = (
        builder("ai-detector test signing key", ca.subject, ee_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningChain(
        chain_pem=ee.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=ee_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ca_pem=ca.public_bytes(pem),
    )


def c2pa_sign(
    data: bytes,
    mime: str,
    chain: SigningChain,
    source_type: str = "trainedAlgorithmicMedia",
    agent: str = "Test Diffusion 2",
    edited_with: str | None = None,
) -> bytes:
    """``data`` with a C2PA manifest: a ``c2pa.created`` action stating the digital
    source type, then a ``c2pa.edited`` one if ``edited_with`` names another."""
    import c2pa

    actions = [
        {
            "action": "c2pa.created",
            "digitalSourceType": IPTC_SOURCE_TYPE_PREFIX + source_type,
            "softwareAgent": {"name": agent},
        }
    ]
    if edited_with:
        actions.append(
            {
                "action": "c2pa.edited",
                "digitalSourceType": IPTC_SOURCE_TYPE_PREFIX + edited_with,
                "softwareAgent": {"name": "Test Fill"},
            }
        )

    manifest = {
        "claim_generator_info": [{"name": "ai-detector tests", "version": "1.0"}],
        "title": "test image",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(b"es256", chain.chain_pem, chain.key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest)) as builder:
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def plain(fmt: str = "JPEG", size: tuple[int, int] = (96, 72), **options: object) -> bytes:
    return encode_image(textured_image(size=size), fmt, **options)


def xmp_packet(body: str) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def iptc_xmp(source_type: str, creator_tool: str = "Test Painter 3") -> str:
    return xmp_packet(
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmp:CreatorTool="{creator_tool}" '
        f'Iptc4xmpExt:DigitalSourceType="{IPTC_SOURCE_TYPE_PREFIX}{source_type}"/>'
    )


def png_with_text(chunks: dict[str, str], compressed: bool = False) -> bytes:
    """A PNG with tEXt (or zTXt) chunks, as generator front-ends write them."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=compressed)
    return plain("PNG", pnginfo=info)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def insert_png_chunk(png: bytes, chunk: bytes) -> bytes:
    """``chunk`` placed right after IHDR."""
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]


def camera_exif(make: str = "Canon", model: str = "Canon EOS R5") -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = make, model, "Firmware Version 1.8.1"
    return exif.tobytes()
