import Crypto
import EventCoding
import EventStore
import Foundation
import GrantDomain
import Logging
import Synchronization

/// Who sent a command and how to recognise its retry.
public struct CommandContext: Sendable {
    public var actor: String
    public var role: String
    /// With a fingerprint of the request: a retry with the same key and
    /// fingerprint returns the first result and appends nothing.
    public var idempotency: Idempotency?
    public var correlationId: UUID
    public var causationId: UUID?
    /// Whom the sender acts as, for the deciders' rules on who may act on what:
    /// always said, so no caller gets `.unrestricted` by leaving it out.
    public var actingAs: ActingAs

    public init(actor: String, role: String, actingAs: ActingAs, idempotency: Idempotency? = nil,
                correlationId: UUID = .random(), causationId: UUID? = nil) {
        self.actor = actor
        self.role = role
        self.actingAs = actingAs
        self.idempotency = idempotency
        self.correlationId = correlationId
        self.causationId = causationId
    }

    /// A key whose fingerprint is the command's own description.
    public static func fingerprint(_ description: String) -> Data {
        Data(SHA256.hash(data: Data(description.utf8)))
    }
}

/// What a command did: where its last event landed (for read-your-writes).
public struct CommandResult: Hashable, Sendable {
    public var position: Int64
    public var transactionId: Int64
    /// True when this was a retry of a command already carried out.
    public var replayed: Bool
    /// Decisions made: more than one when others changed the streams it read in between.
    public var attempts: Int = 1
}

public enum CommandError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Writers kept changing the streams this command reads.
    case concurrencyConflict(stream: String, attempts: Int)
    case idempotencyKeyReused(key: String)

    public var description: String {
        switch self {
        case .concurrencyConflict(let stream, let attempts):
            "stream \(stream) kept changing; gave up after \(attempts) attempts"
        case .idempotencyKeyReused(let key):
            "idempotency key \(key) was already used for a different request"
        }
    }
}

/// An aggregate as loaded for one attempt: its state and the version the
/// append will expect.
public struct Loaded<A: Aggregate>: Sendable {
    public var state: A
    public var version: Int64
    public var stream: StreamID

    /// Appends `events` to this stream, expecting it unchanged since loaded.
    public func write(_ events: [any DomainEvent]) -> PendingWrite {
        PendingWrite(stream: stream, expected: version == 0 ? .noStream : .exactly(version), events: events,
                     versionAfter: version + Int64(events.count)) { state in
            var folded = state as! A
            // Drops the other reference, so the fold changes the state in place instead of copying its collections.
            state = ()
            for event in events { folded = (consume folded).evolve(event) }
            state = folded
        }
    }

    /// Writes nothing, but fails the append if the stream changed: for
    /// streams a decision read but does not change.
    public func unchanged() -> PendingWrite { write([]) }
}

public struct PendingWrite: Sendable {
    public var stream: StreamID
    public var expected: ExpectedVersion
    public var events: [any DomainEvent]
    /// The stream's version once written.
    var versionAfter: Int64
    /// Folds the events into the aggregate's state as loaded: what the
    /// next command decided in the same batch loads.
    var evolve: @Sendable (inout any Sendable) -> Void
}

/// How far an attempt takes streams as this process last folded them,
/// without reading: sound because the append checks every stream loaded
/// at the version loaded, so a decision on a stale state clashes.
package enum CacheTrust: Sendable, Equatable {
    /// Every stream as folded, or empty if never folded: nothing is read.
    case all
    /// Streams folded as folded; those never folded are read.
    case folded
    /// None: every stream is read from its folded version on.
    case none
}

/// Loads aggregates for one attempt of a command.
public struct Session: Sendable {
    let store: EventStore
    let cache: StateCache?
    /// The batch this attempt is decided in, if it is decided together with others.
    let batch: DecidedTogether?
    let trust: CacheTrust
    /// Versions of streams read elsewhere in this request (with the session,
    /// say): a stream folded at its known version is current and not read.
    let known: [String: Int64]
    private let prefetched = Prefetched()
    private let loads = LoadedStreams()

    /// A session that folds every stream from its first event.
    public init(store: EventStore) { self.init(store: store, cache: nil) }

    init(store: EventStore, cache: StateCache?, batch: DecidedTogether? = nil, trust: CacheTrust = .none, known: [String: Int64] = [:]) {
        self.store = store
        self.cache = cache
        self.batch = batch
        self.trust = trust
        self.known = known
    }

    /// The streams taken as empty because this process never folded them.
    var takenAsEmpty: [String] { loads.takenAsEmpty }

    /// The streams loaded so far, in the order first loaded.
    var loadedStreams: [String] { loads.loaded.map(\.stream.rawValue) }

    /// Writes nothing, but makes the append fail if a stream this session
    /// loaded and `writes` do not write has changed since: a decision
    /// commits only on the states it was made on.
    func checks(besides writes: [PendingWrite]) -> [PendingWrite] {
        let written = Set(writes.map(\.stream))
        return loads.loaded.filter { !written.contains($0.stream) }.map { loaded in
            PendingWrite(stream: loaded.stream, expected: loaded.version == 0 ? .noStream : .exactly(loaded.version), events: [],
                         versionAfter: loaded.version) { _ in }
        }
    }

    /// The states `writes` leave once appended: each written stream's state
    /// as this session loaded it, moved past the write's events.
    func statesAfter(_ writes: [PendingWrite]) -> [(stream: String, version: Int64, state: any Sendable)] {
        let loaded = loads.loaded
        return writes.compactMap { write in
            let loadedAt = write.versionAfter - Int64(write.events.count)
            guard !write.events.isEmpty, var state = loaded.first(where: { $0.stream == write.stream && $0.version == loadedAt })?.state else {
                return nil
            }
            write.evolve(&state)
            return (write.stream.rawValue, write.versionAfter, state)
        }
    }

    /// Reads several streams the command will load, in one round trip, so
    /// each ``load(_:_:)`` of them that follows reads nothing more.
    public func prefetch(_ streamNames: String...) async throws {
        try await prefetch(streamNames)
    }

    public func prefetch(_ streamNames: [String]) async throws {
        guard trust != .all else { return }
        let wanted = try streamNames.map { try StreamID($0) }.compactMap { stream -> (stream: StreamID, from: Int64)? in
            let folded = cache?.version(of: stream)
            guard !prefetched.holds(stream.rawValue), !(batch?.holds(stream.rawValue) ?? false), trust == .none || folded == nil,
                  known[stream.rawValue] != (folded ?? 0) else { return nil }
            return (stream, (folded ?? 0) + 1)
        }
        guard !wanted.isEmpty else { return }
        let events = try await store.readStreams(wanted)
        prefetched.add(wanted.map { ($0.stream.rawValue, $0.from, events[$0.stream.rawValue] ?? []) })
    }

    /// The state this process last folded for the aggregate, without
    /// reading anything: it may be behind, but what never changes (a call's
    /// pool, a meeting's group) tells which other streams to prefetch.
    public func peek<A: Aggregate>(_ type: A.Type, _ id: UUID) -> A? {
        guard let stream = try? StreamID(A.streamName(id)) else { return nil }
        return cache?.state(A.self, stream)?.state
    }

    /// The aggregate's state: its cached state, if any, and the events after
    /// it, as prefetched or read now.
    public func load<A: Aggregate>(_ type: A.Type, _ id: UUID) async throws -> Loaded<A> {
        let stream = try StreamID(A.streamName(id))
        if let decided = batch?.state(stream.rawValue), let state = decided.state as? A {
            loads.add(stream, version: decided.version, state: state)
            return Loaded(state: state, version: decided.version, stream: stream)
        }
        let cached = cache?.state(A.self, stream)
        let after = cached?.version ?? 0
        let recorded: [RecordedEvent]
        if let (from, events) = prefetched.take(stream.rawValue) ?? batch?.takeRead(stream.rawValue), from <= after + 1 {
            recorded = events.filter { $0.streamVersion > after }
        } else if trust == .all || (trust == .folded && cached != nil) {
            if cached == nil { loads.guessed(stream) }
            recorded = []
        } else if known[stream.rawValue] == after {
            recorded = []
        } else {
            recorded = try await store.readStream(stream, from: after + 1)
        }
        var state = cached?.state ?? A.initial
        for event in recorded {
            state = (consume state).evolve(
                try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data, among: A.eventTypes))
        }
        let version = recorded.last?.streamVersion ?? after
        if !recorded.isEmpty { cache?.store(state, version: version, stream.rawValue) }
        batch?.record(stream.rawValue, version: version, state: state)
        loads.add(stream, version: version, state: state)
        return Loaded(state: state, version: version, stream: stream)
    }
}

/// The streams a session loaded, each at the version (and with the state) it was first loaded at.
private final class LoadedStreams: Sendable {
    private let streams = Mutex<(loaded: [(stream: StreamID, version: Int64, state: any Sendable)], seen: Set<StreamID>, takenAsEmpty: [String])>(([], [], []))

    /// The streams taken as empty because this process never folded them.
    var takenAsEmpty: [String] { streams.withLock { $0.takenAsEmpty } }

    func guessed(_ stream: StreamID) {
        streams.withLock { $0.takenAsEmpty.append(stream.rawValue) }
    }

    func add(_ stream: StreamID, version: Int64, state: any Sendable) {
        streams.withLock { if $0.seen.insert(stream).inserted { $0.loaded.append((stream, version, state)) } }
    }

    var loaded: [(stream: StreamID, version: Int64, state: any Sendable)] { streams.withLock { $0.loaded } }
}

/// A command of a batch refused on states taken from the cache: it is
/// decided again, on states read, before the refusal stands.
package struct DecidedOnCachedState: Error {
    package var stream: String
}

/// Streams read ahead for one attempt: each read from a version on.
private final class Prefetched: Sendable {
    private let streams = Mutex<[String: (from: Int64, events: [RecordedEvent])]>([:])

    func add(_ reads: [(stream: String, from: Int64, events: [RecordedEvent])]) {
        streams.withLock { streams in
            for read in reads { streams[read.stream] = (read.from, read.events) }
        }
    }

    func holds(_ stream: String) -> Bool {
        streams.withLock { $0[stream] != nil }
    }

    func take(_ stream: String) -> (from: Int64, events: [RecordedEvent])? {
        streams.withLock { $0.removeValue(forKey: stream) }
    }
}

/// The layer between the domain and the API: loads the streams a command
/// needs, decides, and appends with every loaded version expected, in one
/// atomic append. When it decides again, and on what, is ``AttemptPolicy``;
/// this drives it. Commands on a stream that clashed lately are decided
/// together with this process's other commands on it, one after another,
/// and committed in one transaction (see ``DecidingTogether``).
public struct CommandHandler: Sendable {
    public let store: EventStore
    public var maximumAttempts: Int
    private let states = StateCache()
    private let together = DecidingTogether()

    public init(store: EventStore, maximumAttempts: Int = 10) {
        self.store = store
        self.maximumAttempts = maximumAttempts
    }

    /// A session that reads through the states this process folded: prefetch
    /// several streams, then load each, and all of them cost one round trip.
    /// `known`: versions of streams read alongside something else in this
    /// request; the states folded at those versions are used without a read.
    public func reader(known: [String: Int64] = [:]) -> Session { Session(store: store, cache: states, known: known) }

    /// The aggregate as the store holds it now: the state this process
    /// folded last, moved on by the events after it (one read, of only
    /// those; none when the caller read the stream's version as `known`
    /// and that is the version folded). For pages that show a state and
    /// checks made before a command (an application's organisation, which
    /// no event changes), not for deciding: a command loads its own.
    public func current<A: Aggregate>(_ type: A.Type, _ id: UUID, known version: Int64? = nil) async throws -> Loaded<A> {
        try await reader(known: version.map { [A.streamName(id): $0] } ?? [:]).load(type, id)
    }

    public func execute(
        _ command: String, _ context: CommandContext,
        _ plan: @escaping @Sendable (Session) async throws -> [PendingWrite]
    ) async throws -> CommandResult {
        if let idempotency = context.idempotency, let previous = try await store.idempotentResult(for: idempotency.key) {
            guard idempotency.fingerprint == nil || previous.fingerprint == idempotency.fingerprint else {
                throw CommandError.idempotencyKeyReused(key: idempotency.key)
            }
            return CommandResult(position: previous.result.lastPosition, transactionId: previous.result.transactionId, replayed: true)
        }
        let metadata = EventMetadata(actor: context.actor, role: context.role, command: command, correlationId: context.correlationId,
                                     causationId: context.causationId, idempotencyKey: context.idempotency?.key)
        var policy = AttemptPolicy(maximumAttempts: maximumAttempts)
        // The streams the last attempt loaded, for a batch deciding this command.
        var loaded: [String] = []
        while true {
            let decided: DecidedAlone = switch policy.step {
            case .decideTogether(let stream): .queue(on: stream)
            case .decide: try await decideAlone(plan, metadata, context.idempotency, policy: &policy, loaded: &loaded)
            }
            let outcome: Result<AppendResult, any Error>
            switch decided {
            case .appended(let result):
                outcome = result
            case .queue(let stream):
                // Decided with the other commands queued on the stream, on the states the ones before it leave.
                let job = DecidingTogether.Job(plan: plan, metadata: metadata, idempotency: context.idempotency, loaded: loaded,
                                               clashed: policy.clashedOn != nil)
                outcome = await together.decide(on: stream, job, self)
            }
            let next: AttemptPolicy.AfterFailure
            do {
                let result = try outcome.get()
                return CommandResult(position: result.lastPosition, transactionId: result.transactionId, replayed: result.replayed,
                                     attempts: policy.attempt)
            } catch EventStoreError.wrongExpectedVersion(let stream, _, let actual) {
                states.forget(stream, newerThan: actual ?? 0)
                together.markHot(stream)
                next = policy.clashed(on: stream)
            } catch EventStoreError.idempotencyKeyReused(let key) {
                throw CommandError.idempotencyKeyReused(key: key)
            } catch let stale as DecidedOnCachedState {
                next = policy.decidedOnCachedState(queuedOn: stale.stream)
            }
            switch next {
            case .retry(let backOff):
                if backOff { try await Task.sleep(for: .microseconds(Int.random(in: 0...500))) }
            case .giveUp(let stream, let attempts):
                throw CommandError.concurrencyConflict(stream: stream, attempts: attempts)
            }
        }
    }

    private enum DecidedAlone {
        case appended(Result<AppendResult, any Error>)
        /// To be decided with the commands queued on a stream: one that clashed, or a stream it writes that clashed lately.
        case queue(on: String)
    }

    /// One attempt decided alone, and appended unless it is to queue.
    private func decideAlone(
        _ plan: @escaping @Sendable (Session) async throws -> [PendingWrite], _ metadata: EventMetadata, _ idempotency: Idempotency?,
        policy: inout AttemptPolicy, loaded: inout [String]
    ) async throws -> DecidedAlone {
        var session: Session
        var writes: [PendingWrite]
        while true {
            session = Session(store: store, cache: states, trust: policy.trust)
            do {
                writes = try await plan(session)
                break
            } catch let refusal as DomainError {
                guard case .decideAgain = policy.refused(tookStreamsAsEmpty: !session.takenAsEmpty.isEmpty) else { throw refusal }
            }
        }
        writes += session.checks(besides: writes)
        loaded = session.loadedStreams
        let hot = writes.lazy.filter { !$0.events.isEmpty }.map(\.stream.rawValue).first(where: together.isHot)
        if case .decideTogether(let stream) = policy.decided(writingHotStream: hot) { return .queue(on: stream) }
        do {
            let appended = try await store.append(try Self.streamWrites(writes, metadata), idempotency: idempotency)
            // What this command wrote is what the next one on these streams decides on: without it, that
            // one decided on the state before (a submitted application still a draft), was refused or
            // clashed, and read the stream again.
            if !appended.replayed {
                for (stream, version, state) in session.statesAfter(writes) { states.store(state, version: version, stream) }
            }
            return .appended(.success(appended))
        } catch {
            return .appended(.failure(error))
        }
    }

    /// Decides `jobs`, queued on a stream, one after another into `batch`,
    /// each loading what the ones before it decided. A command's first
    /// attempt decided on the state cache, so it is decided on that again;
    /// the streams of commands that clashed are read again (unless the batch
    /// holds them as decided), all in one round trip.
    package func decide(_ jobs: [DecidingTogether.Job], on stream: String, into batch: DecidedTogether) async {
        let first = batch.addJobs(jobs.count)
        do {
            let wanted = try Set(jobs.filter(\.clashed).flatMap(\.loaded)).filter { batch.state($0) == nil }.map { name in
                let stream = try StreamID(name)
                return (stream: stream, from: (states.version(of: stream) ?? 0) + 1)
            }
            if !wanted.isEmpty {
                let events = try await store.readStreams(wanted)
                batch.addReads(wanted.map { ($0.stream.rawValue, $0.from, events[$0.stream.rawValue] ?? []) })
            }
        } catch {
            for index in jobs.indices { batch.fail(first + index, error) }
            return
        }
        for (offset, job) in jobs.enumerated() {
            let index = first + offset
            let session = Session(store: store, cache: states, batch: batch, trust: job.clashed ? .none : .all)
            do {
                var writes = try await job.plan(session)
                writes += session.checks(besides: writes)
                batch.add(index, writes: try Self.streamWrites(writes, job.metadata), idempotency: job.idempotency)
                for write in writes where !write.events.isEmpty { batch.apply(write) }
            } catch {
                // What it took as empty for want of a fold, no append of it
                // checks: not a state the batch's next commands decide on.
                batch.forget(session.takenAsEmpty)
                // Refused on states taken from the cache: decided again, read, in a later batch.
                batch.fail(index, error is DomainError && !job.clashed ? DecidedOnCachedState(stream: stream) : error)
            }
        }
    }

    /// Appends what a batch queued on `stream` decided, in one transaction:
    /// each command's result. Unless every append was written, refusals and
    /// appends decided on what an unwritten one would have written are
    /// decided again.
    func commit(_ batch: DecidedTogether, on stream: String) async -> [Result<AppendResult, any Error>] {
        let appends = batch.appends
        let appended = await store.appendTogether(appends.map { ($0.writes, $0.idempotency) })
        var results = batch.failures
        for (append, result) in zip(appends, appended) { results[append.job] = result }
        batch.held = appended.allSatisfy(\.wroteEvents)
        if batch.held {
            // Each state decided is the stream's state once all were written.
            for (stream, version, state) in batch.states { states.store(state, version: version, stream) }
            return results.map { $0! }
        }
        return results.map { result in
            switch result! {
            case .failure(EventStoreError.precedingAppendNotWritten), .failure(is DomainError): .failure(DecidedOnCachedState(stream: stream))
            case let result: result
            }
        }
    }

    /// The events of `writes` as the store takes them.
    private static func streamWrites(_ writes: [PendingWrite], _ metadata: EventMetadata) throws -> [StreamWrite] {
        try writes.map { write in
            StreamWrite(stream: write.stream, expected: write.expected, events: try write.events.map { try NewEvent($0, metadata: metadata) })
        }
    }
}

extension NewEvent {
    /// A domain event as the store takes it: its type's name and schema version, its payload encoded.
    public init(_ event: any DomainEvent, metadata: EventMetadata) throws {
        self.init(type: Swift.type(of: event).eventType, schemaVersion: Swift.type(of: event).schemaVersion,
                  data: try EventCoding.encode(event), metadata: metadata, occurredAt: event.occurredAt)
    }
}


