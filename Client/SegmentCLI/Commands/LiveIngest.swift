import ArgumentParser
import Foundation
import SegmentationAPI
import SegmentationEngine
import Synchronization

extension Live {
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send transaction files to a model's live store, in batches.",
            discussion: """
                Files are CSV with a header, in the columns the model was trained on, sent in the \
                order given. Each batch is applied whole or not at all; a line already applied \
                changes nothing, so sending a file again is safe.
                """)
        @Argument(help: "CSV files of transactions.") var files: [String]
        @Option(help: "Model name (the store's ref: NAME@alias or NAME@N on the first ingest).")
        var model: String
        @Option(
            help:
                "The store's clock: wall (today) or event (the day after the latest purchase: for replaying history)."
        )
        var clock: LiveClockOption?
        @Option(help: "Rows per batch (1 to 10000; the server's --live-max-batch-rows bounds it).")
        var batchRows = 1_000
        @OptionGroup var server: ServerOptions

        func validate() throws {
            guard (1...10_000).contains(batchRows) else {
                throw ValidationError("--batch-rows must be between 1 and 10000")
            }
            for file in files where !FileManager.default.isReadableFile(atPath: file) {
                throw ValidationError("cannot read \(file)")
            }
        }

        func run() async throws {
            let (files, model, clock, batchRows) = (files, model, clock, batchRows)
            try await server.call { services, format in
                let response = try await services.live.ingestTransactions(options: largeResponses) {
                    writer in
                    var first = true
                    var number = 0
                    for file in files {
                        try await Self.batches(of: file, rows: batchRows) { data in
                            number += 1
                            try await writer.write(
                                .with {
                                    if first {
                                        $0.model = .init(text: model)
                                        if let clock { $0.clock = clock.proto }
                                    }
                                    $0.csv = .with { $0.data = data }
                                    $0.batchID = "\((file as NSString).lastPathComponent)#\(number)"
                                })
                            first = false
                        }
                    }
                }
                switch format {
                case .json: Output.print(try Output.json(response))
                case .table, .csv: Output.print(Self.summary(response, format: format))
                }
            }
        }

        /// A file's rows as CSV batches of at most `rows` rows, each with the header.
        static func batches(
            of file: String, rows: Int, _ body: (Data) async throws -> Void
        ) async throws {
            var header: String?
            var lines: [String] = []
            func flush() async throws {
                guard let header, !lines.isEmpty else { return }
                try await body(Data((([header] + lines).joined(separator: "\n") + "\n").utf8))
                lines.removeAll(keepingCapacity: true)
            }
            try await CSVRows.forEachBatch(file: file) { records in
                for record in records {
                    if header == nil {
                        header = CSVText.line(record)
                        continue
                    }
                    lines.append(CSVText.line(record))
                    if lines.count == rows { try await flush() }
                }
            }
            try await flush()
        }

        static func summary(
            _ response: Segmentation_V1_IngestTransactionsResponse, format: OutputFormat
        ) -> String {
            let batches = response.batches
            func total(_ value: (Segmentation_V1_IngestBatchResult) -> Int64) -> String {
                String(batches.reduce(0) { $0 + value($1) })
            }
            let dropped = total { batch in
                batch.dataReport.steps.reduce(0) { $0 + $1.removed }
            }
            let rows: [[String]] = [
                ["batches", String(batches.count)],
                ["purchase lines applied", total(\.purchasesApplied)],
                ["cancellation lines netted", total(\.cancellationsApplied)],
                ["lines seen before (a retry, or a row twice): unchanged", total(\.repeated)],
                ["lines refused over a limit", total(\.refusedOverLimit)],
                ["rows dropped by cleaning", dropped],
                ["segment moves", total(\.moves)],
                ["store customers", String(response.storeCustomers)],
                ["store date", response.storeDate],
                ["model version", String(response.modelVersion)],
                ["last move position", String(response.lastSequence)],
            ]
            return format == .csv ? Output.csv(["item", "value"], rows) : Output.pairs(rows)
        }
    }
}
