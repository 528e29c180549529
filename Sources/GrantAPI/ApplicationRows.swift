import Foundation
import PostgresNIO

/// One application by id, prepared once per connection.
struct ApplicationByID: PostgresPreparedStatement {
    static let sql = "SELECT \(ReadModels.applicationColumns) FROM read.applications WHERE application_id = $1"
    typealias Row = ApplicationView

    var id: UUID

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ApplicationView { try ApplicationView(row) }
}

extension ApplicationView {
    /// A row of ``ReadModels/applicationColumns``.
    init(_ row: PostgresRow) throws {
        let (id, call, pool, organisation, leader, title, description, status, partners, focus) =
            try row.decode((UUID, UUID, UUID, String, String, String, String, String, [String], [String]).self)
        let columns = row.makeRandomAccess()
        let currency = try columns[12].decode(String.self)
        self.init(
            id: id, callId: call, poolId: pool, organisation: organisation, projectLeader: leader, title: title, description: description,
            status: status, partners: partners, focusAreas: focus, requested: try money(try columns[10].decode(Int64.self), currency),
            granted: try columns[11].decode(Int64?.self).map { try money($0, currency) }, studentsReached: try columns[13].decode(Int?.self),
            version: try columns[14].decode(Int.self), draftedAt: try columns[15].decode(Date.self),
            submittedAt: try columns[16].decode(Date?.self), decidedAt: try columns[17].decode(Date?.self),
            meetingId: try columns[18].decode(UUID?.self), decisionReason: try columns[19].decode(String?.self))
    }
}
