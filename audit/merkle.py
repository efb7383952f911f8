"""RFC 9162 §2.1 Merkle tree hashes, inclusion and consistency proofs.

Pure Python on purpose (no Django, no database): ``audit.tlog`` uses it to verify
proofs offline, on a machine that has neither SecureDrive nor its database.

Leaves of the audit tree are the events' chain hashes (32 raw bytes each), so
``leaf_hash(bytes.fromhex(event.event_hash))``. The domain-separation prefixes (0x00 for
leaves, 0x01 for nodes) stop a node from being passed off as a leaf (second-preimage).

Verifiers check every element of a proof: its count, each hash's length, the indices,
and that the path consumed exactly the tree it claims (``sn == 0`` at the end). A
verifier that skips any of these accepts forged proofs (GHSA-672p-m5jq-mrh8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from already-hashed leaves; iterative, O(n) time, O(log n) stack."""
    if not leaves:
        return EMPTY_ROOT
    # Fold full subtrees left to right, like a binary counter (same result as the
    # recursive definition, without recursion over long logs).
    stack: list[tuple[int, bytes]] = []  # (subtree size, hash)
    for leaf in leaves:
        size, value = 1, leaf
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, value = left_size + size, node_hash(left, value)
        stack.append((size, value))
    _size, value = stack.pop()
    while stack:
        _left_size, left = stack.pop()
        value = node_hash(left, value)
    return value


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, over already-hashed leaves."""
    if not 0 <= index < len(leaves):
        raise ValueError("leaf index outside the tree")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root_from_leaf_hashes(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root_from_leaf_hashes(leaves[:k])]


def _subproof(first: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    size = len(leaves)
    if first == size:
        return [] if whole else [root_from_leaf_hashes(leaves)]
    k = _split(size)
    if first <= k:
        return [*_subproof(first, leaves[:k], whole), root_from_leaf_hashes(leaves[k:])]
    return [*_subproof(first - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]


def consistency_proof(first_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1; empty when m is 0 or n."""
    if not 0 <= first_size <= len(leaves):
        raise ValueError("first size outside the tree")
    if first_size in (0, len(leaves)):
        return []
    return _subproof(first_size, leaves, True)


def _check_hashes(*values: bytes) -> None:
    for value in values:
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise ProofError("every hash must be exactly 32 bytes")


def verify_inclusion(
    *, leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2. Returns on success, raises ProofError otherwise."""
    _check_hashes(leaf, root, *proof)
    if leaf_index < 0 or tree_size <= 0 or leaf_index >= tree_size:
        raise ProofError("leaf index outside the tree")
    fn, sn = leaf_index, tree_size - 1
    value = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than the tree is deep")
    if value != root:
        raise ProofError("proof does not lead to the root")


def verify_consistency(
    *,
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """RFC 9162 §2.1.4.2. Returns on success, raises ProofError otherwise."""
    _check_hashes(first_root, second_root, *proof)
    if first_size < 0 or second_size < first_size:
        raise ProofError("the second tree must not be smaller than the first")
    if first_size == second_size:
        if proof:
            raise ProofError("trees of equal size need an empty proof")
        if first_root != second_root:
            raise ProofError("trees of equal size have different roots")
        return
    if first_size == 0:
        # Every tree extends the empty tree; a non-empty proof is malformed.
        if proof:
            raise ProofError("consistency with the empty tree needs an empty proof")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_value = second_value = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than needed")
        if fn & 1 or fn == sn:
            first_value = node_hash(element, first_value)
            second_value = node_hash(element, second_value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second_value = node_hash(second_value, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than needed")
    if first_value != first_root:
        raise ProofError("proof does not lead to the first root")
    if second_value != second_root:
        raise ProofError("proof does not lead to the second root")


class TreeBuilder:
    """Append leaves one at a time and read the root at any size: O(log n) memory.

    The verification task streams millions of events through one of these and reads
    the root at every checkpointed size without holding the leaves.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # full subtrees: (size, hash)
        self.size = 0

    def append(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, value = left_size + size, node_hash(left, value)
        self._stack.append((size, value))
        self.size += 1

    def frontier(self) -> list[bytes]:
        """The perfect subtrees' hashes, largest first (see ``frontier_ranges``)."""
        return [value for _size, value in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _size, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


# --- Pruned trees (after a retention purge) ---------------------------------------------
#
# A purge deletes the events before a signed checkpoint of size A and keeps the
# checkpoint's *frontier*: the hashes of the perfect subtrees that the binary
# decomposition of A yields ([0, 2^i1), [2^i1, 2^i1 + 2^i2), ...). Aligned subtrees are
# nested or disjoint, so every subtree that the root, an inclusion proof of a leaf >= A
# or a consistency proof between sizes >= A needs either contains whole frontier
# subtrees or lies after A: the tree stays computable without the purged leaves.


def frontier_ranges(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees [start, end) of a tree of ``size`` leaves, largest first."""
    ranges = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        if size & (1 << bit):
            ranges.append((start, start + (1 << bit)))
            start += 1 << bit
    return ranges


class PrunedLeaves:
    """Subtree hashes of a tree whose first ``base_size`` leaves are known only through
    their frontier, followed by ``leaves`` (leaf hashes from index ``base_size`` on)."""

    def __init__(self, *, base_size: int, frontier: Sequence[bytes], leaves: Sequence[bytes]):
        ranges = frontier_ranges(base_size)
        if len(ranges) != len(frontier):
            raise ProofError("the frontier does not match its tree size")
        _check_hashes(*frontier)
        self.base_size = base_size
        self.blocks = dict(zip(ranges, frontier, strict=True))
        self.leaves = leaves
        self.size = base_size + len(leaves)

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end), as the RFC 9162 recursion splits them."""
        if not 0 <= start < end <= self.size:
            raise ValueError("range outside the tree")
        known = self.blocks.get((start, end))
        if known is not None:
            return known
        if start >= self.base_size:
            offset = self.base_size
            return root_from_leaf_hashes(self.leaves[start - offset : end - offset])
        if end - start == 1:
            raise ProofError(f"leaf {start} was purged")
        k = _split(end - start)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size == 0:
            return EMPTY_ROOT
        return self.range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1) for a leaf that was not purged."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError("leaf index outside the tree")

        def path(start: int, end: int) -> list[bytes]:
            if end - start == 1:
                return []
            k = _split(end - start)
            if index < start + k:
                return [*path(start, start + k), self.range_hash(start + k, end)]
            return [*path(start + k, end), self.range_hash(start, start + k)]

        return path(0, size)

    def consistency_proof(self, first_size: int, size: int | None = None) -> list[bytes]:
        """PROOF(first_size, D[size]) (RFC 9162 §2.1.4.1)."""
        size = self.size if size is None else size
        if not 0 <= first_size <= size <= self.size:
            raise ValueError("first size outside the tree")
        if first_size in (0, size):
            return []

        def subproof(first: int, start: int, end: int, whole: bool) -> list[bytes]:
            if first == end - start:
                return [] if whole else [self.range_hash(start, end)]
            k = _split(end - start)
            if first <= k:
                return [*subproof(first, start, start + k, whole), self.range_hash(start + k, end)]
            return [*subproof(first - k, start + k, end, False), self.range_hash(start, start + k)]

        return subproof(first_size, 0, size, True)


def tree_builder_from_frontier(size: int, frontier: Sequence[bytes]) -> TreeBuilder:
    """A builder that continues a tree known by its frontier (a purge or a verification)."""
    ranges = frontier_ranges(size)
    if len(ranges) != len(frontier):
        raise ProofError("the frontier does not match its tree size")
    _check_hashes(*frontier)
    builder = TreeBuilder()
    builder._stack = [
        (end - start, value) for (start, end), value in zip(ranges, frontier, strict=True)
    ]
    builder.size = size
    return builder
