import Crypto
import Foundation

/// The history as a Merkle tree, as Certificate Transparency logs keep
/// theirs (RFC 9162, section 2.1): every event is a leaf, in commit order,
/// its data the event's own hash (which covers its content and its stream's
/// chain). A signed root of the first `size` leaves (a ``SignedCheckpoint``)
/// commits to that whole prefix: an inclusion proof shows one event is in
/// it with about log2(size) hashes, a consistency proof that a later root
/// extends an earlier one.
public enum MerkleTree {
    /// `SHA-256(0x00 || data)`.
    public static func leafHash(_ data: some DataProtocol) -> Data {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: data)
        return Data(hasher.finalize())
    }

    /// `SHA-256(0x01 || left || right)`.
    static func nodeHash(_ left: Data, _ right: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Data(hasher.finalize())
    }

    /// The root of the tree of these leaf hashes (MTH); of no leaves, SHA-256 of nothing.
    public static func root(_ leaves: ArraySlice<Data>) -> Data {
        switch leaves.count {
        case 0: return Data(SHA256.hash(data: Data()))
        case 1: return leaves.first!
        default:
            let split = leaves.startIndex + largestPowerOfTwo(below: leaves.count)
            return nodeHash(root(leaves[..<split]), root(leaves[split...]))
        }
    }

    /// The audit path of leaf `index` among `leaves` (RFC 9162, 2.1.3.1).
    public static func inclusionPath(index: Int, leaves: ArraySlice<Data>) -> [Data] {
        guard leaves.count > 1 else { return [] }
        let k = largestPowerOfTwo(below: leaves.count), split = leaves.startIndex + k
        if index < k { return inclusionPath(index: index, leaves: leaves[..<split]) + [root(leaves[split...])] }
        return inclusionPath(index: index - k, leaves: leaves[split...]) + [root(leaves[..<split])]
    }

    /// The proof that the tree of the first `size` leaves is a prefix of the tree of all `leaves` (RFC 9162, 2.1.4.1).
    public static func consistencyProof(from size: Int, leaves: ArraySlice<Data>) -> [Data] {
        guard size > 0, size < leaves.count else { return [] }
        return subproof(size, leaves, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Data>, complete: Bool) -> [Data] {
        let n = leaves.count
        if m == n { return complete ? [] : [root(leaves)] }
        let k = largestPowerOfTwo(below: n), split = leaves.startIndex + k
        if m <= k { return subproof(m, leaves[..<split], complete: complete) + [root(leaves[split...])] }
        return subproof(m - k, leaves[split...], complete: false) + [root(leaves[..<split])]
    }

    /// Whether `path` proves the leaf with `leafHash` at `index` is in the tree of `size` leaves with `root` (RFC 9162, 2.1.3.2).
    public static func verifyInclusion(leafHash: Data, index: Int64, size: Int64, path: [Data], root: Data) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index, sn = size - 1
        var r = leafHash
        for p in path {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows the tree of `second` leaves with `secondRoot` extends the tree of `first` leaves with `firstRoot` (RFC 9162, 2.1.4.2).
    public static func verifyConsistency(first: Int64, second: Int64, firstRoot: Data, secondRoot: Data, proof: [Data]) -> Bool {
        guard first > 0, first <= second else { return false }
        if first == second { return proof.isEmpty && firstRoot == secondRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        // When the first tree is a complete subtree, its root is the proof's start.
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        var fn = first - 1, sn = second - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == firstRoot && sr == secondRoot
    }

    /// The largest power of two below `n` (n > 1).
    static func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}
