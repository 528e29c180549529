/// Reads all events in commit order, page by page, fetching the next page
/// on another connection while the caller works on the current one: a
/// reader that applies or decodes what it reads then waits only for
/// whichever of the two is slower, not for both in turn.
public struct PageReader: ~Copyable {
    public let store: EventStore
    public let pageSize: Int
    /// The event types the reader needs whole (nil: all); see ``EventStore/readPage(after:limit:types:)``.
    public let types: Set<String>?
    private var prefetched: (after: Checkpoint, page: Task<EventPage, any Error>)?

    public init(store: EventStore, pageSize: Int = 5_000, types: Set<String>? = nil) {
        self.store = store
        self.pageSize = pageSize
        self.types = types
    }

    /// The page after `checkpoint`. After a full page the next one is fetched at once.
    public mutating func page(after checkpoint: Checkpoint) async throws -> EventPage {
        let page: EventPage
        if let prefetched, prefetched.after == checkpoint {
            self.prefetched = nil
            page = try await prefetched.page.value
        } else {
            prefetched?.page.cancel()
            prefetched = nil
            page = try await store.readPage(after: checkpoint, limit: pageSize, types: types)
        }
        if page.rowsRead == pageSize, let through = page.through {
            let (store, pageSize, types) = (store, pageSize, types)
            prefetched = (through, Task { try await store.readPage(after: through, limit: pageSize, types: types) })
        }
        return page
    }

    deinit { prefetched?.page.cancel() }
}
