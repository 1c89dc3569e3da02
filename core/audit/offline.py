"""Verify an audit export bundle offline: this file imports nothing of Mandate, only the
standard library and `cryptography`, so an auditor can read it, copy it and run it
(`python offline.py bundle.zip`; every bundle carries a copy as verify_bundle.py) without
the database or Mandate installed. `mandate audit verify-bundle` runs the same code.

What it checks, in order: the manifest's Ed25519 signature with the bundle's public key (and
that key against the one the auditor was given, with --key-id); every file's SHA-256 against
the manifest; then, per chain, every link: its record's digest (the record as the bundle
shows it), its personal data against its salted commitment (unless the person was erased),
its hash, and that it follows its predecessor; and every checkpoint: its signature, and that
it names a link of the bundle with that hash. The rules mirror core.audit.canonical."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
CHECKPOINTS = "checkpoints.jsonl"


def canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link_hash(link: dict[str, Any]) -> str:
    fields = ("chain", "seq", "table", "id", "at", "digest", "personal", "prev")
    return sha256(canonical({name: link[name] for name in fields}))


def personal_digest(salt: str, personal: dict[str, Any]) -> str:
    return sha256(salt.encode() + b"\x00" + canonical(personal))


def checkpoint_message(point: dict[str, Any]) -> bytes:
    fields = ("chain", "seq", "head_hash", "at", "key_id")
    return canonical({name: point[name] for name in fields})


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw)[:16]


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    links: int = 0
    records: int = 0
    checkpoints: int = 0
    covered: list[str] = field(default_factory=list)
    public_key: Ed25519PublicKey | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"{self.records} records, {self.links} links, {self.checkpoints} checkpoints"]
        lines.extend(f"  {text}" for text in self.covered)
        if self.ok:
            lines.append("ok: the bundle verifies")
        else:
            lines.append(f"BROKEN: {len(self.problems)} problem(s)")
            lines.extend(f"  {text}" for text in self.problems)
        return "\n".join(lines)


def verify_bundle(path: str, *, key_id: str | None = None) -> BundleReport:
    """Everything this module's docstring lists, for the bundle at `path`."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"not a readable bundle: {exc}")
        return report
    with archive:
        files = _read_all(archive, report)
        if files is None:
            return report
        manifest = _signed_manifest(files, report, key_id)
        if manifest is None:
            return report
        for name, digest in manifest["files"].items():
            if name not in files:
                report.problems.append(f"{name}: listed in the manifest, missing from the bundle")
            elif sha256(files[name]) != digest:
                report.problems.append(f"{name}: its SHA-256 does not match the manifest")
        hashes: dict[tuple[str, int], str] = {}
        for chain in manifest["chains"]:
            _walk_chain(files.get(chain["file"], b""), chain, report, hashes)
        _check_points(files.get(CHECKPOINTS, b""), manifest, report, hashes)
    return report


def _read_all(archive: zipfile.ZipFile, report: BundleReport) -> dict[str, bytes] | None:
    files = {}
    for name in archive.namelist():
        try:
            files[name] = archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            # A changed byte fails the member's decompression or its CRC-32.
            report.problems.append(f"{name}: damaged ({exc})")
    return None if report.problems else files


def _signed_manifest(
    files: dict[str, bytes], report: BundleReport, key_id: str | None
) -> dict[str, Any] | None:
    try:
        loaded = serialization.load_pem_public_key(files[PUBLIC_KEY])
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 key")
        loaded.verify(bytes.fromhex(files[SIGNATURE].decode()), files[MANIFEST])
        manifest: dict[str, Any] = json.loads(files[MANIFEST])
    except KeyError as exc:
        report.problems.append(f"{exc.args[0]}: missing from the bundle")
        return None
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        report.problems.append(f"{MANIFEST}: its signature does not verify with {PUBLIC_KEY}")
        return None
    report.public_key = loaded
    if key_id is not None and key_id_of(loaded) != key_id:
        report.problems.append(f"{PUBLIC_KEY}: key {key_id_of(loaded)}, not the expected {key_id}")
        return None
    return manifest


def _walk_chain(
    data: bytes, chain: dict[str, Any], report: BundleReport, hashes: dict[tuple[str, int], str]
) -> None:
    name, prev, seq = chain["chain"], chain["start_prev_hash"], chain["first_seq"] - 1
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        where = f"{chain['file']} line {number}"
        try:
            entry = json.loads(line)
            link = entry["link"]
        except (ValueError, KeyError):
            report.problems.append(f"{where}: not a link")
            return
        where += f" ({link.get('table')} {link.get('id')}, seq {link.get('seq')})"
        problem = _link_problem(entry, link, name, seq, prev)
        if problem is not None:
            report.problems.append(f"{where}: {problem}")
            return
        report.links += 1
        report.records += entry.get("record") is not None
        seq, prev = link["seq"], link["hash"]
        hashes[(name, seq)] = prev
    if seq != chain["last_seq"]:
        report.problems.append(f"{chain['file']}: ends at seq {seq}, not {chain['last_seq']}")


def _link_problem(
    entry: dict[str, Any], link: dict[str, Any], chain: str, seq: int, prev: str
) -> str | None:
    if link["chain"] != chain or link["seq"] != seq + 1:
        return f"out of place: expected {chain} seq {seq + 1}"
    if link["prev"] != prev:
        return f"does not follow its predecessor (expected prev {prev}, found {link['prev']})"
    if link_hash(link) != link["hash"]:
        return f"the link was altered (expected {link_hash(link)}, found {link['hash']})"
    record = entry.get("record")
    if record is not None:
        if (record.get("table"), record.get("id")) != (link["table"], link["id"]):
            return "the record is not the link's"
        if sha256(canonical(record)) != link["digest"]:
            return f"the record was altered (expected {link['digest']})"
        salt = entry.get("salt")
        if salt is not None and personal_digest(salt, entry["personal"]) != link["personal"]:
            return "the record's personal fields were altered"
    return None


def _check_points(
    data: bytes,
    manifest: dict[str, Any],
    report: BundleReport,
    hashes: dict[tuple[str, int], str],
) -> None:
    public_key = report.public_key
    assert public_key is not None
    ends = {c["chain"]: c["last_seq"] for c in manifest["chains"]}
    anchored: set[str] = set()
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        point = json.loads(line)
        report.checkpoints += 1
        where = f"{CHECKPOINTS} line {number} ({point['chain']} seq {point['seq']})"
        try:
            public_key.verify(bytes.fromhex(point["signature"]), checkpoint_message(point))
        except (InvalidSignature, ValueError):
            report.problems.append(f"{where}: its signature does not verify")
            continue
        held = hashes.get((point["chain"], point["seq"]))
        if held is not None and held != point["head_hash"]:
            report.problems.append(f"{where}: disagrees with the chain ({held})")
        elif held is not None and point["seq"] == ends.get(point["chain"]):
            anchored.add(point["chain"])
            report.covered.append(f"{point['chain']}: signed at seq {point['seq']}, {point['at']}")
    for chain in ends:
        if chain not in anchored:
            report.problems.append(f"{chain}: no signed checkpoint at the end of its links")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: verify_bundle.py BUNDLE.zip [EXPECTED_KEY_ID]", file=sys.stderr)
        return 2
    report = verify_bundle(argv[1], key_id=argv[2] if len(argv) == 3 else None)
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
