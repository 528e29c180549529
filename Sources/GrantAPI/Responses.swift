import Crypto
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Projections

/// JSON as the API writes it: sorted keys, so equal values give equal bytes.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try apiEncoder.encode(value))))
}

let apiEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(date.formatted(.iso8601))
    }
    return encoder
}()

/// A command's answer: what it named, and where its last event landed.
/// Built from the request and the append's result only, so a replayed
/// request gets the same bytes.
func commandResponse(_ fields: [String: String], _ result: CommandResult, created: Bool) throws -> Response {
    struct Body: Encodable {
        var fields: [String: String]
        var position: Int64
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Problem.Key.self)
            for (name, value) in fields { try container.encode(value, forKey: Problem.Key(name)) }
            try container.encode(position, forKey: Problem.Key("position"))
        }
    }
    var headers: HTTPFields = [:]
    if result.replayed { headers[.idempotentReplayed] = "true" }
    return try jsonResponse(Body(fields: fields, position: result.position), status: created ? .created : .ok, headers: headers)
}
