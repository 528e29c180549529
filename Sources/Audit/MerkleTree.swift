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

    /// The root of the tree of the first `size` leaves (MTH); of none, SHA-256 of nothing.
    public static func root(_ leaves: LeafHashes, size: Int? = nil) -> Data {
        root(leaves, 0..<(size ?? leaves.count))
    }

    /// The root of the subtree of the leaves in `range`, built level by
    /// level in one scratch buffer, an odd node carried up unhashed: the
    /// same tree as RFC 9162's split at the largest power of two, with no
    /// allocation per node.
    static func root(_ leaves: LeafHashes, _ range: Range<Int>) -> Data {
        guard !range.isEmpty else { return Data(SHA256.hash(data: Data())) }
        var level = Array(leaves.bytes[(range.lowerBound * 32)..<(range.upperBound * 32)])
        var count = range.count
        level.withUnsafeMutableBytes { nodes in
            var input = [UInt8](repeating: 0x01, count: 65)
            while count > 1 {
                for pair in stride(from: 0, to: count - 1, by: 2) {
                    input.withUnsafeMutableBytes { input in
                        input.baseAddress!.advanced(by: 1).copyMemory(from: nodes.baseAddress!.advanced(by: pair * 32), byteCount: 64)
                        let digest = SHA256.hash(data: UnsafeRawBufferPointer(input))
                        digest.withUnsafeBytes { nodes.baseAddress!.advanced(by: pair / 2 * 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
                    }
                }
                if count % 2 == 1 {
                    nodes.baseAddress!.advanced(by: count / 2 * 32).copyMemory(from: nodes.baseAddress!.advanced(by: (count - 1) * 32), byteCount: 32)
                }
                count = (count + 1) / 2
            }
        }
        return Data(level[0..<32])
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162, 2.1.3.1).
    public static func inclusionPath(index: Int, leaves: LeafHashes, size: Int? = nil) -> [Data] {
        inclusionPaths(indices: [index], leaves: leaves, size: size)[index] ?? []
    }

    /// The audit paths of several leaves at once: every node off their
    /// paths is hashed once, however many paths need it.
    public static func inclusionPaths(indices: [Int], leaves: LeafHashes, size: Int? = nil) -> [Int: [Data]] {
        let size = size ?? leaves.count
        var paths: [Int: [Data]] = [:]
        let targets = Array(Set(indices.filter { $0 >= 0 && $0 < size })).sorted()
        for index in targets { paths[index] = [] }
        func walk(_ range: Range<Int>, _ targets: ArraySlice<Int>) -> Data {
            guard !targets.isEmpty else { return root(leaves, range) }
            guard range.count > 1 else { return leaves[range.lowerBound] }
            let split = range.lowerBound + largestPowerOfTwo(below: range.count)
            let cut = targets.firstIndex { $0 >= split } ?? targets.endIndex
            let left = walk(range.lowerBound..<split, targets[..<cut]), right = walk(split..<range.upperBound, targets[cut...])
            for index in targets[..<cut] { paths[index]!.append(right) }
            for index in targets[cut...] { paths[index]!.append(left) }
            return nodeHash(left, right)
        }
        if size > 0 { _ = walk(0..<size, targets[...]) }
        return paths
    }

    /// The proof that the tree of the first `from` leaves is a prefix of the tree of the first `size` (RFC 9162, 2.1.4.1).
    public static func consistencyProof(from: Int, leaves: LeafHashes, size: Int? = nil) -> [Data] {
        let size = size ?? leaves.count
        guard from > 0, from < size else { return [] }
        return subproof(from, leaves, 0..<size, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: LeafHashes, _ range: Range<Int>, complete: Bool) -> [Data] {
        let n = range.count
        if m == n { return complete ? [] : [root(leaves, range)] }
        let split = range.lowerBound + largestPowerOfTwo(below: n)
        if m <= split - range.lowerBound {
            return subproof(m, leaves, range.lowerBound..<split, complete: complete) + [root(leaves, split..<range.upperBound)]
        }
        return subproof(m - (split - range.lowerBound), leaves, split..<range.upperBound, complete: false) + [root(leaves, range.lowerBound..<split)]
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

/// The root of a tree that grows a leaf at a time, kept as the roots of its
/// perfect subtrees only (a compact range, as Certificate Transparency logs
/// keep one): about log2(size) hashes of memory however many leaves pass,
/// and the same root as ``MerkleTree/root(_:size:)`` of the same leaves.
public struct CompactRange: Sendable {
    /// The perfect subtrees' roots, largest (leftmost) first: one per set bit of `size`.
    private var peaks: [SHA256Digest] = []
    public private(set) var size = 0

    public init() {}

    /// How many hashes it holds: one per set bit of `size`.
    public var peakCount: Int { peaks.count }

    /// Adds the leaf whose data is `data` (``MerkleTree/leafHash(_:)``).
    public mutating func appendLeaf(of data: some DataProtocol) {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: data)
        var node = hasher.finalize()
        // Each trailing one bit of the size is a perfect subtree of the new node's height: merge them.
        var merging = size
        while merging & 1 == 1 {
            node = Self.nodeHash(peaks.removeLast(), node)
            merging >>= 1
        }
        peaks.append(node)
        size += 1
    }

    /// The root of the leaves so far: the peaks joined from the right, as
    /// RFC 9162's split at the largest power of two joins them.
    public var root: Data {
        guard var node = peaks.last else { return Data(SHA256.hash(data: Data())) }
        for peak in peaks.dropLast().reversed() { node = Self.nodeHash(peak, node) }
        return Data(node)
    }

    private static func nodeHash(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }
}

/// Leaf hashes (``MerkleTree/leafHash(_:)``) side by side, 32 bytes each: a
/// million of them are 32 MB in one allocation.
public struct LeafHashes: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public init(_ hashes: [Data]) {
        bytes.reserveCapacity(hashes.count * 32)
        for hash in hashes { append(hash) }
    }

    public var count: Int { bytes.count / 32 }

    public subscript(index: Int) -> Data { Data(bytes[(index * 32)..<(index * 32 + 32)]) }

    /// Appends a leaf hash as it is.
    public mutating func append(_ hash: Data) {
        precondition(hash.count == 32, "a leaf hash is 32 bytes")
        bytes.append(contentsOf: hash)
    }

    /// Appends the leaf hash of `data`: `SHA-256(0x00 || data)`.
    public mutating func appendLeaf(of data: some DataProtocol) {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: data)
        hasher.finalize().withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    public mutating func reserveCapacity(_ leaves: Int) { bytes.reserveCapacity(leaves * 32) }
}
