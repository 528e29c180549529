import EventStore
import GrantDomain
import Synchronization

/// The newest state this process has folded for each stream, with its
/// version, so loading a long stream (a busy pool has an event per
/// commitment and payment) reads and decodes only the events after it.
/// Sound because events are never changed or removed: the state at a
/// version is fixed.
///
/// Bounded by two generations: states are stored in the current one, and
/// when it holds half of `capacity` it becomes the previous one and the
/// one before is dropped; a state found in the previous generation moves
/// to the current one. So what is used stays, and forgetting costs no
/// search. (Deleting an arbitrary quarter of one dictionary, as this did
/// before, left its hash table so clustered that each lookup then took
/// about 200 µs: a third of the time of every command once the cache had
/// filled.)
final class StateCache: Sendable {
    private struct Generations {
        /// By stream name: each stream belongs to one aggregate type.
        var current: [String: (version: Int64, state: any Sendable)] = [:]
        var previous: [String: (version: Int64, state: any Sendable)] = [:]

        /// The entry for `key`, moved to the current generation if it was in the previous one.
        mutating func entry(_ key: String) -> (version: Int64, state: any Sendable)? {
            if let entry = current[key] { return entry }
            guard let entry = previous.removeValue(forKey: key) else { return nil }
            current[key] = entry
            return entry
        }
    }

    private let generations = Mutex(Generations())
    let capacity: Int

    init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    func state<A: Aggregate>(_ type: A.Type, _ stream: StreamID) -> (version: Int64, state: A)? {
        generations.withLock { generations in
            guard let entry = generations.entry(stream.rawValue), let state = entry.state as? A else { return nil }
            return (entry.version, state)
        }
    }

    /// The version folded for `stream`, whatever its type.
    func version(of stream: StreamID) -> Int64? {
        generations.withLock { $0.entry(stream.rawValue)?.version }
    }

    /// Keeps `state` as `stream`'s state at `version`: the state of the
    /// stream's aggregate type, whatever it is.
    func store(_ state: any Sendable, version: Int64, _ key: String) {
        let dropped = generations.withLock { generations -> [String: (version: Int64, state: any Sendable)]? in
            // Another attempt may have stored a newer version meanwhile.
            if let existing = generations.entry(key), existing.version >= version { return nil }
            generations.current[key] = (version, state)
            guard generations.current.count >= capacity / 2 else { return nil }
            defer { generations.previous = generations.current; generations.current = [:] }
            return generations.previous
        }
        // Released here, after the lock: releasing thousands of states takes a while.
        _ = dropped
    }

    /// Forgets states of `stream` newer than the store says it is: only a
    /// store reset behind this process's back gets there, and a stale state
    /// must not keep every command on the stream failing.
    func forget(_ stream: String, newerThan version: Int64) {
        generations.withLock { generations in
            if let entry = generations.entry(stream), entry.version > version { generations.current[stream] = nil }
        }
    }
}
