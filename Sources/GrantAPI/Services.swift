import Crypto
import Documents
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

/// What every route needs: the store, the command handler, the token checker.
struct Services: Sendable {
    let store: EventStore
    let commands: CommandHandler
    let auth: Authenticator
    let bodyLimit: Int
    let consistencyWait: Duration
    let trustedProxies: Set<String>
    let documents: any DocumentStore
    let documentLimit: Int64
    let virusScanner: (any VirusScanner)?
    /// Present when this process runs the projection workers.
    let readCache: ReadCache?
    let logger: Logger
}
