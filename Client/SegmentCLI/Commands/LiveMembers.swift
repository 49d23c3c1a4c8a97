import ArgumentParser
import Foundation
import SegmentationAPI

extension Live {
    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the customers in a segment of a live store now, with their features.",
            discussion:
                "--file writes every member as CSV (customer_id, the features, evaluated_date), page by page, whole or not at all; -o csv prints the same, -o json prints each page; the table shows the first 5,000."
        )
        @Option(
            help:
                "Model name (the store's ref), or NAME@ref for the audience under another version or alias."
        )
        var model: String
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
                // CSV (a file, or -o csv) is written page by page: an audience of millions is
                // never held whole. A table is for people: one page of up to 5,000.
                let sink = file != nil || format == .csv ? try CSVSink(path: file) : nil
                let streams = sink != nil || format == .json
                var count = 0
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
                    if let sink {
                        if count == 0 {
                            try sink.write(
                                ["customer_id"] + response.featureNames + ["evaluated_date"])
                        }
                        for member in response.members {
                            try sink.write(
                                [member.customerID] + member.features.map(Output.raw)
                                    + [member.evaluatedDate])
                        }
                    } else if format == .json {
                        Output.print(try Output.json(response))
                    } else {
                        Output.print(Self.table(response))
                    }
                    count += response.members.count
                    token = streams ? response.nextPageToken : ""
                } while !token.isEmpty
                try sink?.close()
                if let file {
                    Output.print(
                        "\(count) customers of segment \(segment) (model version \(response.modelVersion), as of \(response.storeDate)) written to \(file)"
                    )
                } else if format == .table, !response.nextPageToken.isEmpty {
                    Output.print("(the first \(count) customers: -o csv or --file for all)")
                }
            }
        }

        static func table(_ page: Segmentation_V1_ListSegmentMembersResponse) -> String {
            Output.table(
                ["customer_id"] + page.featureNames + ["evaluated_date"],
                page.members.map {
                    [$0.customerID] + $0.features.map { Output.number($0) } + [$0.evaluatedDate]
                })
        }
    }
}
