/// The read models by name: what a read waits for, what the read cache
/// keys on, and each projection's name (its schema, checkpoint and lock).
public enum ReadModelName: String, CaseIterable, Sendable {
    case applications, grants, agendas, users
    case poolBalances = "pool_balances"
    case publicGrants = "public_grants"
    case auditLedger = "audit_ledger"
}
