"""RFC 9162 Merkle proofs, checked against an independent brute-force reference.

The reference below is written from the RFC's recursive definitions over raw entries
(MTH, PATH, PROOF), sharing no code with audit/merkle.py. For every tree size 1..64,
every inclusion and consistency proof must verify, and every tampered variant (each
element flipped, one element too many or too few, a short hash, wrong index or size)
must be refused: a verifier that skips a check accepts forged proofs
(GHSA-672p-m5jq-mrh8).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle
from audit.note import Checkpoint, NoteError, checkpoint_open, checkpoint_sign, verifier_key

MAX_SIZE = 64
VECTORS = Path(__file__).parent / "vectors" / "merkle"


# --- The reference: RFC 9162 §2.1 read literally ------------------------------------------


def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: Sequence[bytes]) -> bytes:
    if len(entries) == 0:
        return ref_hash(b"")
    if len(entries) == 1:
        return ref_hash(b"\x00" + entries[0])
    k = ref_k(len(entries))
    return ref_hash(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:]))


def ref_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, entries[:k]), ref_mth(entries[k:])]
    return [*ref_path(m - k, entries[k:]), ref_mth(entries[:k])]


def ref_subproof(m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], b), ref_mth(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), ref_mth(entries[:k])]


ENTRIES = [hashlib.sha256(f"event {index}".encode()).digest() for index in range(MAX_SIZE)]
ROOTS = {size: ref_mth(ENTRIES[:size]) for size in range(MAX_SIZE + 1)}
LEAVES = [merkle.leaf_hash(entry) for entry in ENTRIES]


def refused(check: Callable[[], None]) -> bool:
    try:
        check()
    except merkle.ProofError:
        return True
    return False


def tampered(proof: list[bytes]) -> list[list[bytes]]:
    """Every way to damage a proof by one element."""
    variants: list[list[bytes]] = []
    for position in range(len(proof)):
        flipped = bytearray(proof[position])
        flipped[position % 32] ^= 0x01
        variants.append([*proof[:position], bytes(flipped), *proof[position + 1 :]])
        variants.append([*proof[:position], proof[position][:31], *proof[position + 1 :]])
        variants.append(proof[:position] + proof[position + 1 :])  # one missing
    variants.append([*proof, ROOTS[1]])  # one too many
    variants.append([ROOTS[1], *proof])
    return variants


# --- Published vectors (RFC 6962 reference inputs, certificate-transparency tests) ------


def test_roots_match_the_published_rfc6962_vectors() -> None:
    document = json.loads((VECTORS / "rfc6962-roots.json").read_text())
    entries = [bytes.fromhex(value) for value in document["entries"]]
    for size, root_hex in enumerate(document["roots"]):
        assert merkle.root_from_leaf_hashes(
            [merkle.leaf_hash(e) for e in entries[:size]]
        ).hex() == (root_hex)
        assert ref_mth(entries[:size]).hex() == root_hex


# --- Trees -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_root_matches_full_recomputation(size: int) -> None:
    assert merkle.root_from_leaf_hashes(LEAVES[:size]) == ROOTS[size]
    builder = merkle.TreeBuilder()
    for leaf in LEAVES[:size]:
        builder.append(leaf)
    assert builder.root() == ROOTS[size]


# --- Inclusion -------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_verifies_and_every_tampered_one_is_refused(size: int) -> None:
    root = ROOTS[size]
    for index in range(size):
        proof = merkle.inclusion_proof(index, LEAVES[:size])
        assert proof == ref_path(index, ENTRIES[:size])
        merkle.verify_inclusion(
            leaf_index=index, tree_size=size, leaf=LEAVES[index], proof=proof, root=root
        )
        for bad in tampered(proof):
            assert refused(
                partial(
                    merkle.verify_inclusion,
                    leaf_index=index,
                    tree_size=size,
                    leaf=LEAVES[index],
                    proof=bad,
                    root=root,
                )
            )
        for wrong_index in (index - 1, index + 1, index + size, -1):
            if wrong_index == index:
                continue
            assert refused(
                partial(
                    merkle.verify_inclusion,
                    leaf_index=wrong_index,
                    tree_size=size,
                    leaf=LEAVES[index],
                    proof=proof,
                    root=root,
                )
            )
        # A size is only meaningful with its own (signed) root: claiming another size
        # with that size's root must fail.
        for wrong_size in (size - 1, size + 1, 2 * size):
            if not 0 <= wrong_size <= MAX_SIZE:
                continue
            assert refused(
                partial(
                    merkle.verify_inclusion,
                    leaf_index=index,
                    tree_size=wrong_size,
                    leaf=LEAVES[index],
                    proof=proof,
                    root=ROOTS[wrong_size],
                )
            )
        other_leaf = LEAVES[(index + 1) % MAX_SIZE]
        assert refused(
            partial(
                merkle.verify_inclusion,
                leaf_index=index,
                tree_size=size,
                leaf=other_leaf,
                proof=proof,
                root=root,
            )
        )
        # The raw entry is not its leaf hash (domain separation).
        assert refused(
            partial(
                merkle.verify_inclusion,
                leaf_index=index,
                tree_size=size,
                leaf=ENTRIES[index],
                proof=proof,
                root=root,
            )
        )


# --- Consistency -----------------------------------------------------------------------


@pytest.mark.parametrize("second", range(1, MAX_SIZE + 1))
def test_every_consistency_proof_verifies_and_every_tampered_one_is_refused(second: int) -> None:
    for first in range(0, second + 1):
        proof = merkle.consistency_proof(first, LEAVES[:second])
        expected = [] if first in (0, second) else ref_subproof(first, ENTRIES[:second], True)
        assert proof == expected

        def verify(proof: list[bytes], first_size: int, second_size: int) -> None:
            merkle.verify_consistency(
                first_size=first_size,
                second_size=second_size,
                first_root=ROOTS[first_size],
                second_root=ROOTS[second_size],
                proof=proof,
            )

        verify(proof, first, second)
        for bad in tampered(proof):
            assert refused(partial(verify, bad, first, second))
        if 0 < first < second:
            # A wrong first root, or wrong sizes with the same proof, must be refused.
            assert refused(
                partial(
                    merkle.verify_consistency,
                    first_size=first,
                    second_size=second,
                    first_root=ROOTS[first - 1] if first > 1 else ROOTS[second],
                    second_root=ROOTS[second],
                    proof=proof,
                )
            )
            assert refused(
                partial(
                    merkle.verify_consistency,
                    first_size=first,
                    second_size=second,
                    first_root=ROOTS[first],
                    second_root=ROOTS[second - 1],
                    proof=proof,
                )
            )
            for wrong_second in (second - 1, second + 1):
                if wrong_second < first or wrong_second > MAX_SIZE:
                    continue
                assert refused(
                    partial(
                        merkle.verify_consistency,
                        first_size=first,
                        second_size=wrong_second,
                        first_root=ROOTS[first],
                        second_root=ROOTS[wrong_second],
                        proof=proof,
                    )
                )
    assert refused(
        partial(
            merkle.verify_consistency,
            first_size=second + 1,
            second_size=second,
            first_root=ROOTS[second],
            second_root=ROOTS[second],
            proof=[],
        )
    )


# --- Checkpoints and the offline verifier ----------------------------------------------


def test_checkpoint_note_round_trip_and_forgeries() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint(origin="drive.example/audit", tree_size=12, root_hash=ROOTS[12])
    note = checkpoint_sign(checkpoint, name="drive.example/audit", key=key)
    lines = note.split("\n")
    assert lines[:3] == ["drive.example/audit", "12", base64.b64encode(ROOTS[12]).decode()]
    assert lines[3] == ""
    assert lines[4].startswith("\u2014 drive.example/audit ")
    assert checkpoint_open(note, name="drive.example/audit", key=key.public_key()) == checkpoint
    with pytest.raises(NoteError):
        checkpoint_open(
            note.replace("\n12\n", "\n13\n"), name="drive.example/audit", key=key.public_key()
        )
    with pytest.raises(NoteError):
        checkpoint_open(
            note, name="drive.example/audit", key=Ed25519PrivateKey.generate().public_key()
        )
    assert verifier_key("drive.example/audit", key.public_key()).startswith("drive.example/audit+")


def run_tlog(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The offline verifier as an auditor runs it: a fresh Python, no Django settings."""
    return subprocess.run(
        [sys.executable, "-m", "audit.tlog", *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_offline_verifier_checks_inclusion_and_consistency(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    origin = "drive.example/audit"
    (tmp_path / "audit.vkey").write_text(verifier_key(origin, key.public_key()))
    for size in (7, 20):
        note = checkpoint_sign(Checkpoint(origin, size, ROOTS[size]), name=origin, key=key)
        (tmp_path / f"{size}.txt").write_text(note)
    inclusion = {
        "leaf_index": 4,
        "tree_size": 20,
        "event_hash": ENTRIES[4].hex(),
        "proof": [base64.b64encode(h).decode() for h in merkle.inclusion_proof(4, LEAVES[:20])],
    }
    (tmp_path / "inclusion.json").write_text(json.dumps(inclusion))
    consistency = {
        "first_size": 7,
        "second_size": 20,
        "proof": [base64.b64encode(h).decode() for h in merkle.consistency_proof(7, LEAVES[:20])],
    }
    (tmp_path / "consistency.json").write_text(json.dumps(consistency))
    key_file = str(tmp_path / "audit.vkey")

    result = run_tlog(
        "verify-inclusion",
        "--key",
        key_file,
        "--checkpoint",
        str(tmp_path / "20.txt"),
        "--proof",
        str(tmp_path / "inclusion.json"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")
    result = run_tlog(
        "verify-consistency",
        "--key",
        key_file,
        "--old",
        str(tmp_path / "7.txt"),
        "--new",
        str(tmp_path / "20.txt"),
        "--proof",
        str(tmp_path / "consistency.json"),
    )
    assert result.returncode == 0, result.stderr

    # The same inclusion proof against the older checkpoint: refused (wrong size).
    result = run_tlog(
        "verify-inclusion",
        "--key",
        key_file,
        "--checkpoint",
        str(tmp_path / "7.txt"),
        "--proof",
        str(tmp_path / "inclusion.json"),
    )
    assert result.returncode == 1
    assert "FAILED" in result.stderr
    inclusion["proof"] = inclusion["proof"][:-1]  # type: ignore[index]
    (tmp_path / "inclusion.json").write_text(json.dumps(inclusion))
    result = run_tlog(
        "verify-inclusion",
        "--key",
        key_file,
        "--checkpoint",
        str(tmp_path / "20.txt"),
        "--proof",
        str(tmp_path / "inclusion.json"),
    )
    assert result.returncode == 1


# --- After a retention purge: the tree known by its frontier -----------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 21, 32, 33])
def test_a_pruned_tree_gives_the_same_roots_and_proofs_as_the_whole_one(size: int) -> None:
    entries = [f"event {n}".encode() for n in range(size)]
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    for anchor in range(size + 1):
        builder = merkle.TreeBuilder()
        for leaf in leaves[:anchor]:
            builder.append(leaf)
        frontier = builder.frontier()
        assert len(frontier) == len(merkle.frontier_ranges(anchor))
        pruned = merkle.PrunedLeaves(base_size=anchor, frontier=frontier, leaves=leaves[anchor:])
        continued = merkle.tree_builder_from_frontier(anchor, frontier)
        for leaf in leaves[anchor:]:
            continued.append(leaf)
        assert continued.root() == pruned.root() == ref_mth(entries)
        for tree_size in range(max(anchor, 1), size + 1):
            for index in range(anchor, tree_size):
                assert pruned.inclusion_proof(index, tree_size) == ref_path(
                    index, entries[:tree_size]
                )
            for first in range(anchor, tree_size):
                expected = ref_subproof(first, entries[:tree_size], True) if first else []
                assert pruned.consistency_proof(first, tree_size) == expected
        if anchor > 1:
            with pytest.raises(merkle.ProofError, match="purged"):
                pruned.inclusion_proof(0, size)


def test_a_frontier_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.PrunedLeaves(base_size=3, frontier=[merkle.EMPTY_ROOT], leaves=[])
    with pytest.raises(merkle.ProofError):
        merkle.tree_builder_from_frontier(4, [b"short"])
