import ArgumentParser
import Foundation
import SegmentationEngine

struct GenerateSample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-sample",
        abstract:
            "Write realistic sample transactions (Online Retail schema) for customers of known behaviour groups."
    )

    enum Groups: String, ExpressibleByArgument, CaseIterable {
        case realistic, clear
    }

    @Option(help: "Number of customers.") var customers: Int = 2000
    @Option(help: "realistic (six overlapping groups) or clear (four well separated ones).")
    var groups: Groups = .realistic
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(
        name: .customLong("no-noise"),
        help: "Leave out guest orders, cancellations, free items and duplicate lines.")
    var noNoise = false
    @Option(
        name: [.customShort("f"), .customLong("file")],
        help: "Where to write the CSV (default: standard output).") var file: String?
    @Option(
        name: .customLong("truth"),
        help: "Also write customer,group (the generating groups) to this file.") var truthFile:
        String?

    func run() async throws {
        try await reportingErrors(server: "") {
            guard customers >= 1 && customers <= 10_000_000 else {
                throw CLIError.usage("--customers must be 1 to 10000000")
            }
            let output = SampleDataGenerator(
                customers: customers,
                groups: groups == .clear
                    ? SampleDataGenerator.clearGroups : SampleDataGenerator.realisticGroups,
                seed: seed, noise: !noNoise
            ).generate()
            if let file {
                try output.csv.write(toFile: file, atomically: true, encoding: .utf8)
                FileHandle.standardError.writeQuietly(
                    "wrote \(output.rows) transactions of \(customers) customers to \(file)\n")
            } else {
                Output.print(output.csv.trimmingCharacters(in: .newlines))
            }
            if let truthFile {
                let lines = output.groupOf.sorted { $0.key < $1.key }.map {
                    "\($0.key),\($0.value)"
                }
                try (["customer,group"] + lines).joined(separator: "\n").appending("\n").write(
                    toFile: truthFile, atomically: true, encoding: .utf8)
            }
        }
    }
}
