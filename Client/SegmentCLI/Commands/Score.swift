import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score customers from a CSV file against a model.",
        discussion: """
            The file holds either the model's feature columns (plus a customer id column), or raw rows \
            as the model was trained on: transactions (aggregated per customer) or customer rows. \
            Large files are streamed with ScoreStream.
            """)

    @Option(help: "Model reference: name, name@version or name@alias.")
    var model: String

    @Argument(help: "CSV file to score.")
    var file: String

    @Option(name: .customLong("snapshot-date"), help: "Transactions: YYYY-MM-DD recency is measured to.")
    var snapshotDate: String?

    @Option(name: .customLong("batch-size"), help: "Customers per message for feature rows (default 1000).")
    var batchSize: Int = 1000

    @OptionGroup var server: ServerOptions

    func run() async throws {
        try await reportingErrors(server: server.address) {
            guard batchSize >= 1 else { throw CLIError.usage("--batch-size must be at least 1") }
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError.invalidInput("no such file: \(file)") }
            let format = server.output
            let (reference, snapshot, file, batchSize) = (model, snapshotDate ?? "", file, batchSize)
            try await server.withServer { services in
                let detail = try await services.models.getModel(.with { $0.reference = reference }).model
                let requests = try ScoreRequests.build(file: file, model: detail, reference: reference,
                                                       snapshotDate: snapshot, batchSize: batchSize)
                let merged = try await send(requests, services: services)
                try print(merged, format: format)
            }
        }
    }

    private func send(_ requests: [Segmentation_V1_ScoreRequest], services: Services) async throws -> Segmentation_V1_ScoreResponse {
        if requests.count == 1 {
            return try await services.scoring.score(requests[0], options: largeResponses)
        }
        let bar = ProgressBar("scoring")
        let total = requests.count
        let merged = try await services.scoring.scoreStream(options: largeResponses) { writer in
            for request in requests { try await writer.write(request) }
        } onResponse: { response in
            var merged = Segmentation_V1_ScoreResponse()
            var received = 0
            for try await part in response.messages {
                merged.modelName = part.modelName
                merged.modelVersion = part.modelVersion
                merged.scores.append(contentsOf: part.scores)
                received += 1
                bar.update(Double(received) / Double(total), "\(merged.scores.count) customers")
            }
            return merged
        }
        bar.finish("scored \(merged.scores.count) customers with \(merged.modelName)@\(merged.modelVersion) in \(total) messages")
        return merged
    }

    private func print(_ response: Segmentation_V1_ScoreResponse, format: OutputFormat) throws {
        let header = ["customer", "segment_id", "segment", "distance", "runner_up_id", "runner_up", "runner_up_distance", "rfm_segment"]
        let rows = response.scores.map {
            [$0.customerID, String($0.segmentID), $0.segmentName, Output.number($0.distance, digits: 4), String($0.runnerUpID),
             $0.runnerUpName, Output.number($0.runnerUpDistance, digits: 4), $0.rfmSegment]
        }
        try Output.emit(format, header: header, rows: rows) { try Output.json(response) }
    }
}

/// Splits a CSV file into score requests of the right shape and size.
enum ScoreRequests {
    /// Bytes of CSV per request (well under the 4 MiB default message limit).
    static let csvChunkBytes = 1 << 20

    static func build(file: String, model: Segmentation_V1_ModelDetail, reference: String, snapshotDate: String,
                      batchSize: Int) throws -> [Segmentation_V1_ScoreRequest] {
        var header: [String] = []
        var rows: [[String]] = []
        try CSVReader.forEachRecord(inFile: file) { record in
            let cells = (0..<record.count).map { record.string($0) }
            if header.isEmpty { header = cells.map { $0.trimmingCharacters(in: .whitespaces) } } else { rows.append(cells) }
        }
        guard !header.isEmpty else { throw CLIError.invalidInput("\(file) is empty") }
        guard !rows.isEmpty else { throw CLIError.invalidInput("\(file) has a header but no rows") }
        var requests: [Segmentation_V1_ScoreRequest]
        if Set(model.expectedColumns).isSubset(of: header) {
            requests = try featureBatches(header: header, rows: rows, model: model, batchSize: batchSize)
        } else {
            requests = csvChunks(header: header, rows: rows, groupBy: model.kind == .transactions
                ? header.firstIndex(of: model.inputColumns.roles["customer"] ?? "CustomerID") : nil)
        }
        for index in requests.indices {
            requests[index].model = index == 0 ? reference : ""
            requests[index].snapshotDate = snapshotDate
        }
        return requests
    }

    private static func featureBatches(header: [String], rows: [[String]], model: Segmentation_V1_ModelDetail,
                                       batchSize: Int) throws -> [Segmentation_V1_ScoreRequest] {
        let columns = model.expectedColumns
        let positions = columns.map { header.firstIndex(of: $0)! }
        let idNames = ["customer_id", "customerid", "customer", "cust_id", "id"]
        let idIndex = header.firstIndex { idNames.contains($0.lowercased()) } ?? header.indices.first { !columns.contains(header[$0]) }
        var featureRows: [Segmentation_V1_FeatureRow] = []
        for (number, cells) in rows.enumerated() {
            let id = idIndex.flatMap { $0 < cells.count ? cells[$0] : nil } ?? "row \(number + 1)"
            guard cells.count == header.count else {
                throw CLIError.invalidInput("customer \(id) (line \(number + 2)): expected \(header.count) fields, found \(cells.count)")
            }
            var row = Segmentation_V1_FeatureRow()
            row.customerID = id
            row.values = try zip(columns, positions).map { column, position in
                guard let value = Double(cells[position].trimmingCharacters(in: .whitespaces)) else {
                    throw CLIError.invalidInput("customer \(id): field \(column) = '\(cells[position])' is not a number")
                }
                return value
            }
            featureRows.append(row)
        }
        return stride(from: 0, to: featureRows.count, by: batchSize).map { start in
            .with { $0.features = .with { $0.columns = columns; $0.rows = Array(featureRows[start..<min(start + batchSize, featureRows.count)]) } }
        }
    }

    /// CSV chunks with the header repeated; a customer's transactions stay in one chunk.
    private static func csvChunks(header: [String], rows: [[String]], groupBy customerColumn: Int?) -> [Segmentation_V1_ScoreRequest] {
        var groups: [[[String]]] = []
        if let customerColumn {
            var index: [String: Int] = [:]
            for row in rows {
                let key = customerColumn < row.count ? row[customerColumn] : ""
                if let at = index[key] { groups[at].append(row) } else { index[key] = groups.count; groups.append([row]) }
            }
        } else {
            groups = rows.map { [$0] }
        }
        let headerLine = CSVText.line(header) + "\n"
        var chunks: [String] = []
        var current = headerLine
        for group in groups {
            let text = group.map { CSVText.line($0) + "\n" }.joined()
            if current.utf8.count + text.utf8.count > csvChunkBytes && current != headerLine {
                chunks.append(current)
                current = headerLine
            }
            current += text
        }
        if current != headerLine { chunks.append(current) }
        return chunks.map { chunk in .with { $0.csv = .with { $0.data = Data(chunk.utf8) } } }
    }
}
