import Foundation
import GrantDomain

/// Encodes and decodes domain events by their type name.
public enum EventCoding {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatTime(date))
        }
        return encoder
    }()

    /// RFC 3339 in UTC to the nearest millisecond; see ``CivilTime/format(_:)``.
    public static func formatTime(_ date: Date) -> String { CivilTime.format(date) }

    /// The event's payload; see ``PayloadEncoder``, and ``encoder`` for what it leaves to Foundation.
    public static func encode(_ event: some DomainEvent) throws -> String {
        do {
            return try PayloadEncoder.encode(event)
        } catch is PayloadEncoder.Unsupported {
            return String(decoding: try encoder.encode(event), as: UTF8.self)
        }
    }

    /// Every event type of every aggregate.
    public static let allEventTypes: [any DomainEvent.Type] = PoolState.eventTypes + CallState.eventTypes + ApplicationState.eventTypes
        + SteeringGroupState.eventTypes + MeetingState.eventTypes + GrantState.eventTypes + PaymentRequestIdState.eventTypes + UserState.eventTypes
        + DocumentState.eventTypes

    /// Every event type by name: one hash lookup instead of comparing names.
    static let allTypes: [String: any DomainEvent.Type] = Dictionary(allEventTypes.map { ($0.eventType, $0) }, uniquingKeysWith: { first, _ in first })

    public struct UnknownEventType: Error, CustomStringConvertible {
        public let type: String
        public var description: String { "unknown event type \(type)" }
    }

    /// Decodes `data` (a stored event's JSON text), written at `schemaVersion`,
    /// as the event type named `type`, from `types`; older versions are upcast first.
    public static func decode(type: String, schemaVersion: Int32 = 1, data: String, among types: [any DomainEvent.Type]) throws -> any DomainEvent {
        guard let eventType = allTypes[type], types.contains(where: { $0 == eventType }) else { throw UnknownEventType(type: type) }
        return try decode(eventType, schemaVersion: schemaVersion, data: data)
    }

    /// Decodes one known event type, upcasting older versions.
    public static func decode<E: DomainEvent>(_ eventType: E.Type, schemaVersion: Int32, data: String) throws -> E {
        guard isCurrent(E.eventType, schemaVersion) else {
            return try PayloadDecoder.decode(E.self, from: upcast(type: E.eventType, schemaVersion: schemaVersion, data: Data(data.utf8)))
        }
        // The busy types read themselves (EventReaders.swift); the rest go through Codable.
        if let readable = E.self as? any PayloadReadable.Type { return try read(readable, from: data) as! E }
        return try PayloadDecoder.decode(E.self, from: data)
    }

    private static func read<R: PayloadReadable>(_ type: R.Type, from data: String) throws -> R {
        try PayloadDecoder.decode(R.self, from: data)
    }

    // MARK: Versioning

    /// Turns one version of an event's JSON object into the next.
    public struct Upcaster: Sendable {
        public let eventType: String
        public let fromVersion: Int32
        public let upcast: @Sendable (inout [String: Any]) -> Void
    }

    /// Every change of an event's shape since it was first written. Stored
    /// events keep the version they were written at; readers see the current one.
    public static let upcasters: [Upcaster] = [
        // MeetingHeld 1 named the members present `attendees`.
        Upcaster(eventType: MeetingHeld.eventType, fromVersion: 1) { object in
            if let attendees = object.removeValue(forKey: "attendees") { object["present"] = attendees }
        },
    ]

    static func isCurrent(_ type: String, _ schemaVersion: Int32) -> Bool {
        !upcasters.contains(where: { $0.fromVersion >= schemaVersion && $0.eventType == type })
    }

    /// `data` brought from `schemaVersion` to the current version of `type`.
    public static func upcast(type: String, schemaVersion: Int32, data: Data) throws -> Data {
        guard !isCurrent(type, schemaVersion) else { return data }
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return data }
        var version = schemaVersion
        while let step = upcasters.first(where: { $0.eventType == type && $0.fromVersion == version }) {
            step.upcast(&object)
            version += 1
        }
        return try JSONSerialization.data(withJSONObject: object)
    }
}

extension EventCoding {
    /// Decodes many stored events on every core, in their order. Decoding
    /// is what a long replay or a catch-up waits on; folding stays in order, after.
    public static func decodeInParallel<Stored: Sendable>(
        _ stored: [Stored], among types: [any DomainEvent.Type],
        _ fields: @escaping @Sendable (Stored) -> (type: String, schemaVersion: Int32, data: String)
    ) async throws -> [any DomainEvent] {
        let decodeOne: @Sendable (Stored) throws -> any DomainEvent = { item in
            let (type, schemaVersion, data) = fields(item)
            return try decode(type: type, schemaVersion: schemaVersion, data: data, among: types)
        }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        // Below a few hundred events a task costs more than it saves.
        let chunk = max(500, (stored.count + cores - 1) / cores)
        guard stored.count > chunk else { return try stored.map(decodeOne) }
        return try await withThrowingTaskGroup(of: (Int, [any DomainEvent]).self) { group in
            for start in stride(from: 0, to: stored.count, by: chunk) {
                let slice = Array(stored[start..<min(start + chunk, stored.count)])
                group.addTask { (start, try slice.map(decodeOne)) }
            }
            var parts: [(Int, [any DomainEvent])] = []
            for try await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }
}
