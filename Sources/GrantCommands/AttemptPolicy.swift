/// When a command is decided again, and on what: the command handler's
/// retry policy, apart from the reads and appends it directs, so each rule
/// is tested without a database (as PostgresNIO keeps its connection state
/// machine apart from its channel handlers).
///
/// - A command is first decided on the states this process has folded,
///   reading nothing: the append checks every stream at the version
///   decided on, so a stale state clashes rather than commits.
/// - Refused by the domain on those, it is decided again reading only the
///   streams this process never folded (it took them as empty), then again
///   on everything the store holds, before the refusal stands.
/// - A command that writes a stream that clashed lately queues on it and is
///   decided together with this process's other commands on it.
/// - After a clash it is decided together on the stream that clashed (the
///   first clash backs off a little, at random, so writers in other
///   processes spread out), up to a bounded number of attempts.
package struct AttemptPolicy: Sendable, Equatable {
    package let maximumAttempts: Int
    /// The attempt under way, from 1.
    package private(set) var attempt = 1
    /// How far this attempt takes streams as folded.
    package private(set) var trust = CacheTrust.all
    /// The stream of the last clash: every later attempt queues on it.
    package private(set) var clashedOn: String?

    package init(maximumAttempts: Int) {
        precondition(maximumAttempts >= 1, "a command is attempted at least once")
        self.maximumAttempts = maximumAttempts
    }

    package enum Step: Sendable, Equatable {
        /// Decide alone, loading streams as `trust` says.
        case decide(trust: CacheTrust)
        /// Queue on the stream and be decided with the others queued on it.
        case decideTogether(on: String)
    }

    /// What this attempt does first.
    package var step: Step {
        clashedOn.map { .decideTogether(on: $0) } ?? .decide(trust: trust)
    }

    package enum AfterRefusal: Sendable, Equatable {
        case decideAgain(trust: CacheTrust)
        /// The refusal stands: it was made on what the store holds.
        case refuse
    }

    /// The domain refused the command, decided alone at ``trust``.
    package mutating func refused(tookStreamsAsEmpty: Bool) -> AfterRefusal {
        switch trust {
        case .all:
            trust = tookStreamsAsEmpty ? .folded : .none
        case .folded:
            trust = .none
        case .none:
            return .refuse
        }
        return .decideAgain(trust: trust)
    }

    package enum AfterDecision: Sendable, Equatable {
        case append
        case decideTogether(on: String)
    }

    /// Decided alone: `hotStream` is the first stream it writes that clashed lately, if any.
    package func decided(writingHotStream hotStream: String?) -> AfterDecision {
        hotStream.map { .decideTogether(on: $0) } ?? .append
    }

    package enum AfterFailure: Sendable, Equatable {
        /// Try again, after a short random pause if `backOff`.
        case retry(backOff: Bool)
        case giveUp(stream: String, attempts: Int)
    }

    /// The append clashed on `stream`: another writer moved it since it was read.
    package mutating func clashed(on stream: String) -> AfterFailure {
        let first = clashedOn == nil
        clashedOn = stream
        return next(backOff: first)
    }

    /// Decided together on states taken from the cache, it was refused, or
    /// its batch was not written as a whole: decided again, on states read.
    package mutating func decidedOnCachedState(queuedOn stream: String) -> AfterFailure {
        clashedOn = stream
        return next(backOff: false)
    }

    private mutating func next(backOff: Bool) -> AfterFailure {
        guard attempt < maximumAttempts else { return .giveUp(stream: clashedOn ?? "", attempts: attempt) }
        attempt += 1
        return .retry(backOff: backOff)
    }
}
