"""Export bundles: written by the CLI and the API, verified offline by the verifier they carry
(with nothing but `cryptography`), and refused, naming the place, when one byte changes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.audit import offline
from core.audit.checkpoints import AuditKey
from tests.core.audit.test_chain import _traffic
from tests.factories import bearer

DAY = "2026-11-25"  # the tests' clock's day


def _rewrite(source: Path, target: Path, change) -> None:  # type: ignore[no-untyped-def]
    """A valid zip again, with `change(files)` applied: as a careful forger would."""
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _chain_file(files: dict[str, bytes]) -> str:
    return next(name for name in files if name.startswith("chains/tenant_"))


def _flip_amount(files: dict[str, bytes]) -> None:
    name = _chain_file(files)
    lines = files[name].decode().splitlines()
    for i, line in enumerate(lines):
        entry = json.loads(line)
        if entry["record"] and entry["record"]["table"] == "transfers":
            lines[i] = line.replace('"amount": ', '"amount": 9', 1)
            break
    files[name] = ("\n".join(lines) + "\n").encode()


def test_a_bundle_verifies_offline_and_each_tampering_is_named(
    client,
    app,
    world,
    clock,
    db,
    mandate,
    tmp_path,
):
    _traffic(client, app, world, clock)
    bundle = tmp_path / "acme.zip"
    acme = str(world.tenants["acme"].id)
    written = mandate("audit", "export", str(bundle), "--tenant", acme, "--from", DAY, "--to", DAY)
    assert written.exit_code == 0, written.output
    verified = mandate("audit", "verify-bundle", str(bundle))
    assert verified.exit_code == 0 and "ok: the bundle verifies" in verified.output, verified.output
    assert "signed at seq" in verified.output

    # The auditor's own copy of the verifier, in a bare interpreter: only cryptography.
    with zipfile.ZipFile(bundle) as archive:
        (tmp_path / "verify_bundle.py").write_bytes(archive.read("verify_bundle.py"))
        names = archive.namelist()
    assert {"manifest.json", "manifest.sig", "public_key.pem", "checkpoints.jsonl"} <= set(names)
    alone = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "verify_bundle.py"), str(bundle)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr

    # One byte flipped in the file as it lies on disk: the damaged member is named.
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo(_chain_file({n: b"" for n in names}))
    raw[info.header_offset + 30 + len(info.filename) + 5] ^= 0x01
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(raw))
    report = offline.verify_bundle(str(flipped))
    assert not report.ok and info.filename in report.render(), report.render()

    # A record changed in a well-formed zip: its file's hash no longer matches the manifest.
    changed = tmp_path / "changed.zip"
    _rewrite(bundle, changed, _flip_amount)
    report = offline.verify_bundle(str(changed))
    assert any(p.startswith("chains/tenant_") and "SHA-256" in p for p in report.problems)
    assert any("the record was altered" in p and "transfers" in p for p in report.problems)

    # ...and the manifest's hash updated to match: the manifest's signature fails.
    def and_manifest(files: dict[str, bytes]) -> None:
        _flip_amount(files)
        manifest = json.loads(files["manifest.json"])
        name = _chain_file(files)
        manifest["files"][name] = offline.sha256(files[name])
        files["manifest.json"] = json.dumps(manifest).encode()

    forged = tmp_path / "forged.zip"
    _rewrite(bundle, forged, and_manifest)
    report = offline.verify_bundle(str(forged))
    assert report.problems == ["manifest.json: its signature does not verify with public_key.pem"]

    # ...and re-signed with a key of the forger's own: the auditor's key id catches it.
    forger = AuditKey(Ed25519PrivateKey.generate())

    def and_signature(files: dict[str, bytes]) -> None:
        and_manifest(files)
        files["manifest.sig"] = forger.sign(files["manifest.json"]).encode()
        files["public_key.pem"] = forger.public_pem.encode()

    resigned = tmp_path / "resigned.zip"
    _rewrite(bundle, resigned, and_signature)
    real_key = app.state.services.audit_key.key_id
    report = offline.verify_bundle(str(resigned), key_id=real_key)
    assert not report.ok and f"not the expected {real_key}" in report.render()
    # Without the key id, the forger's signature holds, but not the bank's checkpoints.
    report = offline.verify_bundle(str(resigned))
    assert any("signature does not verify" in p for p in report.problems), report.render()


def test_compliance_downloads_a_bundle_customers_find_none(client, app, world, clock):
    _traffic(client, app, world, clock)
    compliance = bearer(app, world.users["compliance"], clock)
    response = client.get(f"/v1/audit/export?from={DAY}&to={DAY}", headers=compliance)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert len(manifest["chains"]) >= 2  # the bank's and Acme's, at least
    for who in ("acme-admin", "manager", "globex-admin"):
        headers = bearer(app, world.users[who], clock)
        refused = client.get(f"/v1/audit/export?from={DAY}&to={DAY}", headers=headers)
        assert refused.status_code == 404, (who, refused.text)
    backwards = client.get("/v1/audit/export?from=2026-11-25&to=2026-11-01", headers=compliance)
    assert backwards.status_code == 422 and backwards.json()["error"] == "invalid_period"
    too_long = client.get("/v1/audit/export?from=2025-01-01&to=2026-11-25", headers=compliance)
    assert too_long.status_code == 422 and too_long.json()["error"] == "period_too_long"
    foreign = client.get(
        f"/v1/audit/export?from={DAY}&to={DAY}&tenant_id=99999", headers=compliance
    )
    assert foreign.status_code == 404
