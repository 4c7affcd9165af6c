"""A C2PA signing chain made on the spot, and C2PA-signed image files, for tests and the benchmark.

    from harness.signing import c2pa_sign, make_signing_chain
    chain = make_signing_chain()                  # ES256 test CA + end-entity certificate
    signed = c2pa_sign(plain_jpeg, "image/jpeg", chain, source_type="trainedAlgorithmicMedia")

C2PA needs a real chain: a CA and an end-entity certificate with digitalSignature key
usage and the emailProtection extended key usage (a self-signed end-entity
certificate is refused). Nothing chains to a public root, so readers report the
signature as valid but untrusted unless the test CA is given as a trust anchor. Here in
harness/ (shared tooling) rather than in tests/, because ``python -m bench.provenance``
times the reading of signed files too, and bench must not import the tests. Needs the
dev extras (cryptography, c2pa-python); nothing is shipped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ai_detector.inference.provenance.result import IPTC_SOURCE_TYPE_PREFIX

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
