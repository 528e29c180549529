import EventStore
import GrantDomain
import Synchronization

/// The newest state this process has folded for each stream, with its
/// version, so loading a long stream (a busy pool has an event per
/// commitment and payment) reads and decodes only the events after it.
/// Sound because events are never changed or removed: the state at a
/// version is fixed. Bounded: past `capacity` streams an arbitrary quarter
/// is forgotten and folded again on next use.
final class StateCache: Sendable {
    /// By stream name: each stream belongs to one aggregate type.
    private let entries = Mutex<[String: (version: Int64, state: any Sendable)]>([:])
    let capacity: Int

    init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    func state<A: Aggregate>(_ type: A.Type, _ stream: StreamID) -> (version: Int64, state: A)? {
        entries.withLock { entries in
            guard let entry = entries[stream.rawValue], let state = entry.state as? A else { return nil }
            return (entry.version, state)
        }
    }

    /// The version folded for `stream`, whatever its type.
    func version(of stream: StreamID) -> Int64? {
        entries.withLock { $0[stream.rawValue]?.version }
    }

    /// Keeps `state` as `stream`'s state at `version`: the state of the
    /// stream's aggregate type, whatever it is.
    func store(_ state: any Sendable, version: Int64, _ key: String) {
        entries.withLock { entries in
            // Another attempt may have stored a newer version meanwhile.
            if let existing = entries[key], existing.version >= version { return }
            if entries.count >= capacity {
                for stale in Array(entries.keys.prefix(capacity / 4)) { entries[stale] = nil }
            }
            entries[key] = (version, state)
        }
    }

    /// Forgets states of `stream` newer than the store says it is: only a
    /// store reset behind this process's back gets there, and a stale state
    /// must not keep every command on the stream failing.
    func forget(_ stream: String, newerThan version: Int64) {
        entries.withLock { entries in
            if let entry = entries[stream], entry.version > version { entries[stream] = nil }
        }
    }
}
