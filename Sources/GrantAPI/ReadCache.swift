import Foundation
import HTTPTypes
import Hummingbird
import Projections
import Synchronization

/// The answers of the busiest reads (a pool, an application as JSON; an
/// organisation's applications and grants for its pages), kept while the
/// read model they came from is unchanged: a stamp of this
/// process's own projection workers (``ReadModelChanges``), taken before the
/// read, must still be current. Without workers here, or while another
/// process applies the read model, nothing is kept. A request with `?after=`
/// reads the database. Entries also expire, so a rebuild swapped in by
/// another process shows within ``maximumAge`` even if no event follows it.
final class ReadCache: Sendable {
    struct Entry: Sendable {
        /// JSON for the API; the values themselves for pages.
        let value: any Sendable
        /// The organisation an applicant must belong to, for reads that have one.
        let owner: String?
        /// The stamps of the read models it came from, in the order the reader named them.
        let stamp: [UInt64]
        let storedAt: ContinuousClock.Instant
    }

    static let capacity = 10_000
    static let maximumAge = Duration.seconds(5)

    let changes: ReadModelChanges
    private let entries = Mutex<[String: Entry]>([:])
    private struct Flight: Hashable { let key: String, stamp: [UInt64] }
    private let reading = Mutex<[Flight: Task<Entry, any Error>]>([:])

    init(changes: ReadModelChanges) { self.changes = changes }

    func entry(_ key: String, stamp: [UInt64]) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.stamp == stamp, ContinuousClock.now - entry.storedAt < Self.maximumAge else { return nil }
            return entry
        }
    }

    /// The entry for `key` at `stamp`: kept, or read once for all requests
    /// that miss it together. (Without that, the 64 connections of the bench
    /// all read the database when an entry expired: p99 4.7 -> 16 ms.)
    func entry(_ key: String, stamp: [UInt64],
               read: @escaping @Sendable () async throws -> (value: any Sendable, owner: String?)) async throws -> (Entry, status: String) {
        if let kept = entry(key, stamp: stamp) { return (kept, "grantledger; hit") }
        let flight = Flight(key: key, stamp: stamp)
        let (task, joined) = reading.withLock { reading in
            if let running = reading[flight] { return (running, true) }
            let task = Task {
                // Runs after the insert below: that holds the lock this takes.
                defer { self.reading.withLock { $0[flight] = nil } }
                let (value, owner) = try await read()
                let entry = Entry(value: value, owner: owner, stamp: stamp, storedAt: .now)
                self.store(key, entry)
                return entry
            }
            reading[flight] = task
            return (task, false)
        }
        return (try await task.value, joined ? "grantledger; fwd=miss; collapsed" : "grantledger; fwd=miss")
    }

    func store(_ key: String, _ entry: Entry) {
        entries.withLock { entries in
            // Full: start again rather than track use; the busy keys return at once.
            if entries.count >= Self.capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
    }
}

extension Services {
    /// A value read from read models for a page, kept while they are
    /// unchanged, as ``cachedRead(_:_:_:from:key:_:authorize:)`` keeps the
    /// API's JSON; read afresh when the request waits for a write (`after`).
    /// The caller authorises: `key` must name whose value it is.
    func cachedValue<Value: Sendable>(_ key: String, from projections: [ReadModelName], after: Int64?,
                                      _ load: @escaping @Sendable (ReadModels) async throws -> Value) async throws -> Value {
        let reads = ReadModels(client: store.client, logger: logger)
        // Stamps taken before the read: a change while reading leaves the value stale at once.
        let stamps = projections.compactMap { readCache?.changes.stamp($0.rawValue) }
        guard after == nil, let cache = readCache, stamps.count == projections.count else { return try await load(reads) }
        let (entry, _) = try await cache.entry("\(Value.self) \(key)", stamp: stamps) { (try await load(reads), nil) }
        if let value = entry.value as? Value { return value }
        return try await load(reads)
    }
}

extension Services {
    /// A page's fragment, rendered from aggregates and read models, kept while
    /// the aggregates' `versions` and the read models `projections` name are
    /// unchanged; rendered afresh when the request waits for a write (`after`).
    /// The caller authorises: `key` must name whose fragment it is.
    func cachedFragment<Fragment: Sendable>(_ key: String, versions: [Int64], from projections: [ReadModelName], after: Bool,
                                            _ render: @escaping @Sendable () async throws -> Fragment) async throws -> Fragment {
        let stamps = projections.compactMap { readCache?.changes.stamp($0.rawValue) }
        guard !after, let cache = readCache, stamps.count == projections.count else { return try await render() }
        let (entry, _) = try await cache.entry("\(Fragment.self) \(key)", stamp: stamps + versions.map { UInt64(bitPattern: $0) }) {
            (try await render(), nil)
        }
        if let fragment = entry.value as? Fragment { return fragment }
        return try await render()
    }
}

extension HTTPField.Name {
    /// RFC 9211: whether the answer came from the cache.
    static let cacheStatus = Self("Cache-Status")!
}

extension Services {
    /// A read of one thing from one read model, answered from the cache
    /// while that read model has not changed. `authorize` sees every request,
    /// hit or miss, with the value's owner.
    func cachedRead<Value: Encodable & Sendable>(
        _ request: Request, _ roles: Set<Role>, _ action: String, from projection: ReadModelName, key: String,
        _ load: @escaping @Sendable (ReadModels) async throws -> (value: Value, owner: String?),
        authorize: @Sendable (Identity, _ owner: String?) throws -> Void = { _, _ in }
    ) async throws -> Response {
        let identity = try await auth.require(request, roles, to: action)
        let (after, consistency) = try await waitForReadModels(request, [projection])
        let stamp = readCache?.changes.stamp(projection.rawValue)
        let reads = ReadModels(client: store.client, logger: logger)
        if after == nil, let stamp, let cache = readCache {
            let (entry, status) = try await cache.entry(key, stamp: [stamp]) {
                let (value, owner) = try await load(reads)
                return (ByteBuffer(bytes: try apiEncoder.encode(value)), owner)
            }
            if let body = entry.value as? ByteBuffer {
                try authorize(identity, entry.owner)
                return Response(status: .ok, headers: [.contentType: "application/json", .cacheStatus: status],
                                body: ResponseBody(byteBuffer: body))
            }
        }
        let (value, owner) = try await load(reads)
        try authorize(identity, owner)
        let body = ByteBuffer(bytes: try apiEncoder.encode(value))
        if let stamp { readCache?.store(key, ReadCache.Entry(value: body, owner: owner, stamp: [stamp], storedAt: .now)) }
        var response = Response(status: .ok, headers: [.contentType: "application/json", .cacheStatus: "grantledger; fwd=miss"],
                                body: ResponseBody(byteBuffer: body))
        consistency.apply(to: &response, after: after)
        return response
    }
}
