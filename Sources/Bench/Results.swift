import Foundation
import Histogram

/// One figure of a run, beside the baseline measured in the same run.
public struct Figure: Codable, Sendable {
    public var figure: String
    public var value: Double
    public var unit: String
    public var baseline: Double?
    public var baselineName: String?
    /// value / baseline (for rates: higher is better).
    public var ratio: Double?
    public var target: String?
    public var p50Ms: Double?
    public var p95Ms: Double?
    public var p99Ms: Double?
    public var p999Ms: Double?
    public var maxMs: Double?
}

/// Where and on what a run measured.
public struct RunInfo: Codable, Sendable {
    public var startedAt: Date
    public var commit: String
    public var machine: String
    public var cores: Int
    public var memoryGiB: Int
    public var postgres: String
    public var settings: [String: String]
    public var sizes: [String: Int]

    public init(startedAt: Date, commit: String, machine: String, cores: Int, memoryGiB: Int, postgres: String,
                settings: [String: String], sizes: [String: Int]) {
        self.startedAt = startedAt
        self.commit = commit
        self.machine = machine
        self.cores = cores
        self.memoryGiB = memoryGiB
        self.postgres = postgres
        self.settings = settings
        self.sizes = sizes
    }
}

public struct BenchReport: Codable, Sendable {
    public var run: RunInfo
    public var figures: [Figure]
}

/// Latencies in microseconds, 1 µs to 100 s at 3 significant digits.
struct Latencies: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(_ duration: Duration) {
        let micros = max(1, min(UInt64(duration.components.seconds) * 1_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000_000), 100_000_000))
        _ = histogram.record(micros)
    }

    mutating func add(_ other: Latencies) { histogram.add(other.histogram) }

    var count: UInt64 { histogram.totalCount }

    func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1_000 }

    func annotate(_ figure: inout Figure) {
        figure.p50Ms = ms(50)
        figure.p95Ms = ms(95)
        figure.p99Ms = ms(99)
        figure.p999Ms = ms(99.9)
        figure.maxMs = Double(histogram.max) / 1_000
    }
}

/// A line rewritten in place on stderr.
struct Progress: Sendable {
    let label: String
    func show(_ text: String) { FileHandle.standardError.write(Data("\r\(label): \(text)          ".utf8)) }
    func done(_ text: String) { FileHandle.standardError.write(Data("\r\(label): \(text)          \n".utf8)) }
}

extension BenchReport {
    /// The table the README shows.
    public var table: String {
        func format(_ value: Double?) -> String {
            guard let value else { return "" }
            return value >= 100 ? String(format: "%.0f", value) : value >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
        }
        var lines = ["| figure | value | unit | baseline | ratio | target | p50 / p99 / p99.9 / max ms |", "|---|---:|---|---|---:|---|---|"]
        for figure in figures {
            let baseline = figure.baseline.map { "\(format($0)) (\(figure.baselineName ?? ""))" } ?? ""
            let latency = figure.p50Ms.map { "\(format($0)) / \(format(figure.p99Ms)) / \(format(figure.p999Ms)) / \(format(figure.maxMs))" } ?? ""
            lines.append("| \(figure.figure) | \(format(figure.value)) | \(figure.unit) | \(baseline) | \(format(figure.ratio)) | \(figure.target ?? "") | \(latency) |")
        }
        return lines.joined(separator: "\n")
    }
}
