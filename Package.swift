// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "GrantLedger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "grantledger", targets: ["grantledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // The HTTP/1 parser's errors and the pipeline's parts, to answer what the parser refuses as problem+json.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // jwt-kit 5 needs swift-crypto 4.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.1.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Persistent hash maps for large aggregate states (see PoolState.commitments).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        // bcrypt for passwords.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // The web pages' templates.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Audit packs are ZIP files.
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // The calendar of the events' times: days since 1970 and dates, both ways.
        .target(name: "CivilCalendar", swiftSettings: swiftSettings),
        // JSON's string escapes, resolved once for the payload decoder and the import.
        .target(name: "JSONText", swiftSettings: swiftSettings),
        // Pure domain: value types, commands, events, deciders. No I/O.
        .target(
            name: "GrantDomain",
            dependencies: ["CivilCalendar", .product(name: "HashTreeCollections", package: "swift-collections")],
            swiftSettings: swiftSettings),
        // The events' wire format: payloads encoded and decoded (fast paths
        // for the busy types), versions upcast. The domain does not know it.
        .target(name: "EventCoding", dependencies: ["GrantDomain", "JSONText"], swiftSettings: swiftSettings),
        // The PostgreSQL event store and its migrations runner.
        .target(
            name: "EventStore",
            dependencies: [
                "CivilCalendar",
                "JSONText",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Command handling: load, decide, append atomically, retry on a version clash.
        .target(
            name: "GrantCommands",
            dependencies: [
                "EventStore", "GrantDomain", "EventCoding",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The programmes of DOMAIN.md (the demo) and generated histories, through the commands.
        .target(
            name: "Programmes",
            dependencies: ["Documents", "EventStore", "GrantDomain", "GrantCommands", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Documents' bytes: stored under their SHA-256, kinds sniffed, scanned for viruses.
        .target(
            name: "Documents",
            dependencies: [
                "EventStore", "GrantDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Projection runtime and read models (top-level folder, fixed by the product card).
        .target(
            name: "Projections",
            dependencies: [
                "EventStore", "GrantDomain", "EventCoding",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Projections",
            swiftSettings: swiftSettings
        ),
        // What auditors ask: as-of replay, decision trails, history, verification, export.
        .target(
            name: "Audit",
            dependencies: [
                "Documents", "EventStore", "GrantDomain", "EventCoding",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Who may sign in: passwords, one-time links, sessions, the throttle on guessing.
        .target(
            name: "Accounts",
            dependencies: [
                "EventStore", "GrantDomain", "GrantCommands",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmark: every hot path beside a raw PostgreSQL baseline.
        .target(
            name: "Bench",
            dependencies: [
                "Accounts", "EventStore", "GrantDomain", "EventCoding", "GrantCommands", "Programmes", "Projections", "Audit", "GrantAPI",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP surface.
        .target(
            name: "GrantAPI",
            dependencies: [
                "Accounts", "Documents", "EventStore", "GrantDomain", "EventCoding", "GrantCommands", "Projections", "Audit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            // The pages' templates and stylesheet, read once at start.
            resources: [.copy("Templates")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "grantledger",
            dependencies: [
                "Accounts", "Documents", "EventStore", "GrantDomain", "EventCoding", "GrantCommands", "Programmes", "Projections", "GrantAPI", "Audit", "Bench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the test targets share: their own databases, Foundation's decoder as events store times.
        .target(
            name: "TestSupport",
            dependencies: [
                "EventStore", "GrantDomain",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GrantDomainTests",
            dependencies: ["GrantDomain", "EventCoding", "Programmes"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventCodingTests",
            dependencies: ["EventCoding", "GrantDomain", "Programmes", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GrantCommandsTests",
            dependencies: ["GrantCommands", "GrantDomain", "EventCoding", "EventStore", "Programmes", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: ["Projections", "GrantCommands", "GrantDomain", "EventCoding", "EventStore", "Programmes", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GrantAPITests",
            dependencies: [
                "Accounts", "Audit", "Documents", "GrantAPI", "GrantCommands", "GrantDomain", "EventStore", "Projections", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuditTests",
            dependencies: ["Audit", "GrantCommands", "GrantDomain", "EventCoding", "EventStore", "Programmes", "Projections", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DocumentsTests",
            dependencies: ["Documents", .product(name: "ZIPFoundation", package: "ZIPFoundation"), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EventStoreTests",
            dependencies: ["EventStore", "JSONText", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
