import EventStore
import GrantDomain

/// A batch of events cut into rounds for set-based application: round k
/// holds the k-th event of every stream in the batch, so each stream's
/// events keep their order across rounds, and within a round no two events
/// share a stream. In a read model whose rows each belong to one stream,
/// the events of a round touch different rows and can be applied together,
/// one statement per event type instead of one per event.
struct Rounds {
    /// The event types of each round in the order `typeOrder` gives them.
    private(set) var rounds: [[(type: String, events: [RecordedEvent])]] = []

    /// `typeOrder` lists every type the read model applies; types that
    /// create rows other streams' events read (a pool, a call) come first,
    /// so a later event in the same round finds them.
    init(_ events: [RecordedEvent], typeOrder: [String]) {
        let rank = Dictionary(uniqueKeysWithValues: typeOrder.enumerated().map { ($1, $0) })
        var seen: [String: Int] = [:]
        var byRound: [[Int: [RecordedEvent]]] = []
        for event in events {
            guard let typeRank = rank[event.type] else { continue }
            let round = seen[event.streamId, default: 0]
            seen[event.streamId] = round + 1
            if round == byRound.count { byRound.append([:]) }
            byRound[round][typeRank, default: []].append(event)
        }
        rounds = byRound.map { groups in
            groups.keys.sorted().map { (type: typeOrder[$0], events: groups[$0]!) }
        }
    }
}

extension Projection {
    /// Applies `events` round by round (see ``Rounds``): `body` gets all
    /// events of one type in a round at once. A failure names the group's
    /// first event unless `body` named the event itself.
    func applyInRounds(_ events: [RecordedEvent], typeOrder: [String],
                       _ body: (_ type: String, _ events: [RecordedEvent]) async throws -> Void) async throws {
        for round in Rounds(events, typeOrder: typeOrder).rounds {
            for (type, group) in round {
                do {
                    try await body(type, group)
                } catch let failure as ProjectionFailure {
                    throw failure
                } catch {
                    throw ProjectionFailure(group[0], group.count == 1 ? error : GroupError(count: group.count, underlying: error))
                }
            }
        }
    }

    /// Decodes each event's payload, naming the event that cannot be read.
    func decodeEach<E: DomainEvent>(_ type: E.Type, _ events: [RecordedEvent]) throws -> [E] {
        try events.map { event in
            do { return try decode(E.self, event) } catch { throw ProjectionFailure(event, error) }
        }
    }
}

/// A statement that applied several events of one type at once failed.
struct GroupError: Error, CustomStringConvertible {
    var count: Int
    var underlying: any Error
    var description: String { "applying \(count) events of this type from here together: \(String(reflecting: underlying))" }
}

/// Per-row arrays of a column sent as one flat array: row i's array is the
/// slice `flat[from[i]:to[i]]` (1-based, inclusive; empty when from > to),
/// because PostgreSQL arrays cannot hold rows of different lengths.
struct FlatArrays<Element> {
    var elements: [Element] = []
    var from: [Int32] = []
    var to: [Int32] = []

    mutating func append(_ items: [Element]) {
        from.append(Int32(elements.count + 1))
        elements.append(contentsOf: items)
        to.append(Int32(elements.count))
    }
}

/// A nullable column sent as values and a parallel array saying which are
/// present (`CASE WHEN present THEN value END`): PostgresNIO encodes no
/// arrays of optionals.
struct NullableColumn<Value> {
    var values: [Value] = []
    var present: [Bool] = []

    init(_ items: [Value?], absent: Value) {
        values = items.map { $0 ?? absent }
        present = items.map { $0 != nil }
    }
}
