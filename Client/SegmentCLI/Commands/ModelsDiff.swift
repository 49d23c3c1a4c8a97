import ArgumentParser
import Foundation
import SegmentReport
import SegmentationAPI

extension Models {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show where customers move between two versions (or two models with the same features).",
            discussion:
                "Both assign the customers of TO's training data: FROM keeps its own view of the customers it was trained "
                + "on (their segment as of its training data; --rescore: it scores them all from TO's data, what switching "
                + "serving from FROM to TO changes). The segments are matched one-to-one; customers outside a matched pair "
                + "moved. --output csv writes from_segment_id,from_segment,to_segment_id,to_segment,customers rows "
                + "(ids are each version's segment ids; stable ids and lifetime value follow)."
        )
        @Argument(help: "The earlier version: name@version or name@alias.") var from: String
        @Argument(help: "The later version: name@version, name@alias or name (the latest).")
        var to: String
        @Flag(help: "FROM scores every customer from TO's training data.") var rescore = false
        @Flag(help: "List each moved customer (at most 50,000).") var customers = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (from, to, rescore, customers) = (from, to, rescore, customers)
            try await server.call { services, format in
                let response = try await services.models.diffModels(
                    .with {
                        $0.from = .init(text: from)
                        $0.to = .init(text: to)
                        $0.rescore = rescore
                        $0.customerLimit = customers ? 50_000 : 0
                    }, options: largeResponses)
                try DiffPrinter.print(response, format: format, customers: customers)
            }
        }
    }
}

/// A DiffModels answer for people (summary, match, matrix, moved customers) or as CSV rows.
enum DiffPrinter {
    static func print(
        _ diff: Segmentation_V1_DiffModelsResponse, format: OutputFormat, customers: Bool
    ) throws {
        guard LineagePrinter.isWellFormed(diff.movement) else {
            throw CLIError.failed("the server's DiffModels answer does not fit together")
        }
        switch format {
        case .json: Output.print(try Output.json(diff))
        case .csv:
            let (header, rows) = customers ? customerRows(diff, people: false) : pairRows(diff)
            Output.print(Output.csv(header, rows))
        case .table:
            Output.print(summary(diff))
            Output.print("")
            Output.print(
                "segments matched (on both versions scoring these customers; overlap is their Jaccard index):"
            )
            Output.print(
                Output.table(
                    LineageText.matchHeader,
                    LineageText.matchRows(diff.matches, diff.movement)))
            Output.print("")
            Output.print("customers from (rows) to (columns):")
            Output.print(LineagePrinter.matrix(diff.movement))
            if customers {
                Output.print("")
                let (header, rows) = customerRows(diff, people: true)
                Output.print(Output.table(header, rows))
                if diff.customersTruncated {
                    Output.print("(the first \(rows.count) of \(diff.moved) moved customers)")
                }
            }
        }
    }

    static func summary(_ diff: Segmentation_V1_DiffModelsResponse) -> String {
        let (from, to) = (
            "\(diff.fromName)@\(diff.fromVersion)", "\(diff.toName)@\(diff.toVersion)"
        )
        let scored = diff.customers - diff.assignedFromEarlierData
        let basis =
            diff.assignedFromEarlierData > 0
            ? "\(diff.assignedFromEarlierData) as \(from) saw them in its training data, \(scored) scored by \(from)"
            : "all scored by \(from)"
        var lines = [
            "\(from) -> \(to): \(diff.customers) customers of \(to)'s training data (\(basis))."
        ]
        let share = diff.customers > 0 ? Double(diff.moved) / Double(diff.customers) : 0
        var moved =
            "moved: \(diff.moved) customers (\(Output.percent(share))) are not in a continuing segment"
        if diff.hasMovedValue, diff.hasTotalValue, diff.totalValue > 0 {
            moved +=
                "; their 365-day lifetime value \(Output.number(diff.movedValue, digits: 0)) of \(Output.number(diff.totalValue, digits: 0)) (\(Output.percent(diff.movedValue / diff.totalValue)))"
        }
        lines.append(moved + ".")
        return lines.joined(separator: "\n")
    }

    /// One row per (from, to) pair with customers.
    static func pairRows(
        _ diff: Segmentation_V1_DiffModelsResponse
    ) -> (header: [String], rows: [[String]]) {
        let movement = diff.movement
        let width = movement.to.count
        let withValue = !movement.lifetimeValue.isEmpty
        var rows: [[String]] = []
        for (f, from) in movement.from.enumerated() {
            for (t, to) in movement.to.enumerated() where movement.counts[f * width + t] > 0 {
                rows.append(
                    [
                        String(from.id), from.name, String(to.id), to.name,
                        String(movement.counts[f * width + t]), String(from.stableID),
                        String(to.stableID),
                    ] + (withValue ? [Output.raw(movement.lifetimeValue[f * width + t])] : []))
            }
        }
        return (
            [
                "from_segment_id", "from_segment", "to_segment_id", "to_segment", "customers",
                "from_stable_id", "to_stable_id",
            ] + (withValue ? ["lifetime_value"] : []), rows
        )
    }

    static func customerRows(
        _ diff: Segmentation_V1_DiffModelsResponse, people: Bool
    ) -> (header: [String], rows: [[String]]) {
        let from = Dictionary(
            diff.movement.from.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let to = Dictionary(
            diff.movement.to.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let withValue = diff.movedCustomers.contains { $0.hasLifetimeValue }
        let rows = diff.movedCustomers.map { customer -> [String] in
            [
                customer.customerID, String(customer.fromID), from[customer.fromID] ?? "",
                String(customer.toID), to[customer.toID] ?? "",
            ]
                + (withValue
                    ? [
                        people
                            ? Output.number(customer.lifetimeValue, digits: 2)
                            : Output.raw(customer.lifetimeValue)
                    ] : [])
        }
        return (
            ["customer", "from_segment_id", "from_segment", "to_segment_id", "to_segment"]
                + (withValue ? ["lifetime_value"] : []), rows
        )
    }
}
