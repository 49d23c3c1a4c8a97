import ArgumentParser
import Foundation
import SegmentationAPI

extension Live {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show one customer of a live store: features, segment and why, customer value.")
        @Argument(help: "Customer id.") var id: String
        @Option(
            help: "Model name, or NAME@ref to place the customer under another version or alias.")
        var model: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (id, model) = (id, model)
            try await server.call { services, format in
                let customer = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: model)
                        $0.customerID = id
                    })
                switch format {
                case .json: Output.print(try Output.json(customer))
                case .table, .csv: Output.print(Self.text(customer, format: format))
                }
            }
        }

        static func text(_ customer: Segmentation_V1_LiveCustomer, format: OutputFormat) -> String {
            var rows: [[String]] = [
                ["customer", customer.customerID],
                ["model", "\(customer.modelName)@\(customer.modelVersion)"],
                [
                    "segment",
                    customer.hasScore
                        ? "\(customer.score.segmentID) \(customer.score.segmentName)"
                        : "none (refunds outweigh purchases)",
                ],
                ["as of", customer.storeDate],
                ["first purchase", customer.firstPurchaseDate],
                ["last purchase", customer.lastPurchaseDate],
                ["lines", String(customer.lines)],
                ["net spend", Output.number(customer.netSpend, digits: 2)],
            ]
            for (name, value) in zip(customer.featureNames, customer.features) {
                rows.append([name, Output.number(value)])
            }
            if customer.hasScore {
                if !customer.score.runnerUpName.isEmpty {
                    rows.append([
                        "runner-up", "\(customer.score.runnerUpID) \(customer.score.runnerUpName)",
                    ])
                }
                for fact in customer.score.atypical { rows.append(["atypical", fact]) }
            }
            if customer.score.hasValue {
                let value = customer.score.value
                rows.append(["P(alive)", Output.number(value.pAlive, digits: 2)])
                rows.append([
                    "purchases in \(value.purchaseHorizonDays)d",
                    Output.number(value.expectedPurchases, digits: 2),
                ])
                if value.hasSpend {
                    rows.append([
                        "value in \(value.valueHorizonDays)d",
                        Output.number(value.spend.lifetimeValue, digits: 2),
                    ])
                }
            }
            return format == .csv ? Output.csv(["item", "value"], rows) : Output.pairs(rows)
        }
    }
}
