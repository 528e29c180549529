import Synchronization

/// What this process knows of changes to the read models: a stamp per
/// projection that moves whenever this process's worker commits a batch of
/// it, starts or stops applying it. A reader that took the stamp before it
/// read may keep what it read while the stamp stays the same: nothing else
/// changes that read model. While another process applies a projection (or
/// none does here) there is no stamp, and nothing read of it is kept.
public final class ReadModelChanges: Sendable {
    private struct Projection {
        var stamp: UInt64 = 0
        var appliedHere = false
    }

    private let projections = Mutex<[String: Projection]>([:])

    public init() {}

    /// The stamp of `projection`, or nil when this process does not apply it.
    public func stamp(_ projection: String) -> UInt64? {
        projections.withLock { projections in
            projections[projection].flatMap { $0.appliedHere ? $0.stamp : nil }
        }
    }

    func committed(_ projection: String) {
        projections.withLock { $0[projection, default: Projection()].stamp += 1 }
    }

    func applying(_ projection: String, _ appliedHere: Bool) {
        projections.withLock { projections in
            projections[projection, default: Projection()].stamp += 1
            projections[projection]?.appliedHere = appliedHere
        }
    }
}
