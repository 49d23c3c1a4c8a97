import ArgumentParser
import Foundation
import SegmentationAPI

extension Live {
    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the customers in a segment of a live store now, with their features.",
            discussion:
                "Every page is fetched; --file writes CSV (customer_id, the features, evaluated_date) to a file."
        )
        @Option(help: "Model name (the store's ref).") var model: String
        @Option(help: "Segment id (models show lists them).") var segment: Int32
        // -o names the output format, as in every command: -o csv prints the same CSV.
        @Option(
            name: [.customShort("f"), .customLong("file")],
            help: "Write the audience as CSV to this file (-o csv prints it instead).")
        var outputFile: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (model, segment, file) = (model, segment, outputFile)
            try await server.call { services, format in
                var names: [String] = []
                var rows: [[String]] = []
                var token = ""
                var response = Segmentation_V1_ListSegmentMembersResponse()
                repeat {
                    response = try await services.live.listSegmentMembers(
                        .with {
                            $0.model = .init(text: model)
                            $0.segmentID = segment
                            $0.pageSize = 5_000
                            $0.pageToken = token
                        })
                    names = response.featureNames
                    // Exact values for files and scripts, rounded for people.
                    let number =
                        format == .table && file == nil ? { Output.number($0) } : Output.raw
                    rows += response.members.map {
                        [$0.customerID] + $0.features.map(number) + [$0.evaluatedDate]
                    }
                    token = response.nextPageToken
                } while !token.isEmpty
                let header = ["customer_id"] + names + ["evaluated_date"]
                if let file {
                    let text = Output.csv(header, rows) + "\n"
                    do {
                        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
                    } catch {
                        throw CLIError.invalidInput(
                            "cannot write \(file): \(error.localizedDescription)")
                    }
                    Output.print(
                        "\(rows.count) customers of segment \(segment) (model version \(response.modelVersion), as of \(response.storeDate)) written to \(file)"
                    )
                    return
                }
                switch format {
                case .json:
                    response.members = []
                    Output.print(try Output.json(response))
                    Output.print(Output.csv(header, rows))
                case .csv: Output.print(Output.csv(header, rows))
                case .table: Output.print(Output.table(header, rows))
                }
            }
        }
    }
}
