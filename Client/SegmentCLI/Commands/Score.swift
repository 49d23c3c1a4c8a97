import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping
import Synchronization

struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score customers from CSV files or folders against a model.",
        discussion: """
            Takes the same inputs as train: files and folders of raw rows as the model was trained on \
            (order lines, aggregated per customer, or customer rows), or a CSV of the model's feature \
            columns plus an id column. Any size: input is streamed with ScoreStream; each customer's \
            order lines are kept together however the files split them; rows without a customer id \
            are counted and skipped.

            Recency is measured to --snapshot-date, by default the later of the model's training \
            snapshot and the day after the last transaction scored, so scoring the training data \
            reproduces its segments.

            Each customer gets an explanation: the features that place it in its segment rather than \
            the runner-up (their shares of the distance gap), and an outlier flag when it lies farther \
            from its segment's centre than 99% of that segment's training customers.

            Examples:
              segment score --model retail data/by-day
              segment score --model retail@production orders.csv --columns customer=Cust,time=Date --exclude 'Status=Cancelled'
            """)

    @Option(help: "Model reference: name, name@version or name@alias.")
    var model: String

    @Argument(help: "CSV files or folders of CSV files (one table).")
    var paths: [String]

    @Option(
        help: "transactions or customers: checked against the model's kind (default: the model's).")
    var kind: InputKind?

    @Option(
        help:
            "Transactions: role=column pairs when the files name columns differently from the training data, e.g. customer=Cust,time=Date."
    )
    var columns: String?

    @OptionGroup var filters: FilterOptions

    @Option(
        name: .customLong("snapshot-date"),
        help:
            "Transactions: YYYY-MM-DD recency is measured to (default: the later of the model's snapshot and the day after the last transaction)."
    )
    var snapshotDate: String?

    @Option(
        name: .customLong("batch-size"),
        help: "Customers per message for feature-column files (default 1000).")
    var batchSize: Int = 1000

    @Option(
        help:
            "Products to recommend per customer (transactions with a product column): the segment's most distinctive, then most popular, not yet bought; 0 to 20 (default 0)."
    )
    var recommend: Int = 0

    @OptionGroup var value: ValueOptions

    @OptionGroup var server: ServerOptions

    func validate() throws {
        guard batchSize >= 1 && batchSize <= 100_000 else {
            throw ValidationError("--batch-size must be between 1 and 100000")
        }
        guard (0...ScoreOptions.maximumRecommendations).contains(recommend) else {
            throw ValidationError(
                "--recommend must be between 0 and \(ScoreOptions.maximumRecommendations)")
        }
        if let snapshotDate, TimestampParser.day(ofDate: snapshotDate) == nil {
            throw ValidationError(
                "--snapshot-date '\(snapshotDate)' is not a date (use YYYY-MM-DD)")
        }
    }

    func run() async throws {
        try await reportingErrors(server: server.address) {
            let files = try Uploader.files(paths)
            let roles = try Self.roles(columns)
            let (format, reference, kind, snapshotDate, batchSize) = (
                server.output, model, kind, snapshotDate, batchSize
            )
            let (horizons, recommend) = (value.settings, recommend)
            let filterMessages = try filters.protos()
            try await server.withServer { services in
                let detail = try await services.models.getModel(
                    .with { $0.model = .init(text: reference) }
                ).model
                if let kind,
                    (kind == .transactions ? Segmentation_V1_InputKind.transactions : .customers)
                        != detail.kind
                {
                    throw CLIError.invalidInput(
                        "model \(reference) was trained on \(detail.kind == .transactions ? "transactions" : "customers"); "
                            + "--kind \(kind.rawValue) data cannot be scored with it")
                }
                var plan = try ScorePlan(
                    files: files, model: detail, roles: roles, snapshotDate: snapshotDate,
                    batchSize: batchSize)
                plan.options = .with {
                    $0.valueOptions = horizons.proto
                    $0.recommend = Int32(recommend)
                }
                let printer = ScorePrinter(
                    format: format, model: detail, horizons: horizons, recommends: recommend > 0)
                try await plan.send(
                    reference: reference, filters: filterMessages, services: services,
                    printer: printer)
            }
        }
    }

    /// `--columns role=column,...` (shared with `train`), checked against the known roles.
    static func roles(_ text: String?) throws -> [String: String] {
        var roles: [String: String] = [:]
        var check = TransactionColumns()
        for pair in (text ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw CLIError.usage("--columns: '\(pair)' is not role=column")
            }
            do { try check.set(role: parts[0], column: parts[1]) } catch {
                throw CLIError.usage("--columns: \(error)")
            }
            roles[parts[0]] = parts[1]
        }
        return roles
    }
}

/// How the input becomes ScoreStream messages: feature rows, customer rows, or order lines
/// grouped by customer.
struct ScorePlan: Sendable {
    enum Input: Sendable {
        case featureRows(files: [String], model: Segmentation_V1_ModelDetail, batchSize: Int)
        case customerRows(files: [String])
        case transactions(TransactionBatches, customerColumn: String, snapshot: String)
    }

    let input: Input
    let roles: [String: String]
    /// Every request's value options and recommendations.
    var options = Segmentation_V1_ScoreRequest()
    /// Bytes of CSV per message (well under the server's 16 MiB request limit).
    static let csvChunkBytes = 1 << 20

    init(
        files: [String], model: Segmentation_V1_ModelDetail, roles: [String: String],
        snapshotDate: String?, batchSize: Int
    ) throws {
        self.roles = roles
        if !roles.isEmpty && model.kind != .transactions {
            throw CLIError.usage(
                "--columns names transaction roles; this model was trained on a customers table")
        }
        let header = try Self.header(of: files[0])
        if !model.expectedColumns.isEmpty && Set(model.expectedColumns).isSubset(of: header) {
            input = .featureRows(files: files, model: model, batchSize: batchSize)
        } else if model.kind == .transactions {
            let customer = roles["customer"] ?? model.inputColumns.roles["customer"] ?? "CustomerID"
            let time =
                roles["time"] ?? roles["date"] ?? model.inputColumns.roles["time"] ?? "InvoiceDate"
            let invoice =
                roles["invoice"] ?? roles["order"] ?? model.inputColumns.roles["invoice"]
                ?? "InvoiceNo"
            // The last day of purchases training would keep: cancellations and cancelled orders do not count.
            let batches = try TransactionBatches(
                files: files, customerColumn: customer, timeColumn: time, invoiceColumn: invoice,
                statusCancelled: !model.spec.keepCancelled)
            let modelDay = TimestampParser.day(ofDate: model.dataReport.snapshotDate)
            let dataDay = batches.lastDay.map { $0 + 1 }
            let day =
                snapshotDate.flatMap(TimestampParser.day(ofDate:))
                ?? [modelDay, dataDay].compactMap { $0 }.max()
            input = .transactions(
                batches, customerColumn: customer,
                snapshot: day.map(TimestampParser.isoDate(day:)) ?? "")
        } else {
            input = .customerRows(files: files)
        }
    }

    static func header(of file: String) throws -> [String] {
        guard let header = try CSVReader.header(ofFile: file) else {
            throw CLIError.invalidInput("\(file) is empty")
        }
        return header
    }

    /// Streams every message, prints scores as they arrive, and ends with a one-line summary on stderr.
    func send(
        reference: String, filters: [Segmentation_V1_RowFilter], services: Services,
        printer: ScorePrinter
    ) async throws {
        if case .featureRows = input, !filters.isEmpty {
            throw CLIError.usage(
                "--include/--exclude filter raw rows; this file holds the model's feature columns")
        }
        let bar = ProgressBar("scoring")
        let (roles, options) = (self.roles, self.options)
        let input = self.input
        // The first request the server answers with an error: the CLI stops sending there and
        // reports it once the stream has ended cleanly (the server goes on after a failed request).
        let failure = Mutex<RPCError?>(nil)
        // An error reading the input (a value that is not a number...) ends the request stream
        // cleanly and is reported after it: thrown inside the writer, gRPC would report only that
        // the stream closed.
        let inputFailure = Mutex<(any Error)?>(nil)
        let tally = try await services.scoring.scoreStream(options: largeResponses) { writer in
            var first = true
            var sent = 0
            func stamp(_ request: Segmentation_V1_ScoreRequest) -> Segmentation_V1_ScoreRequest {
                var request = request
                request.valueOptions = options.valueOptions
                request.recommend = options.recommend
                if first { request.model = .init(text: reference) }
                request.requestID = String(sent)
                sent += 1
                first = false
                return request
            }
            func send(_ request: Segmentation_V1_ScoreRequest) async throws {
                guard failure.withLock({ $0 == nil }) else { return }
                try await writer.write(stamp(request))
            }
            do {
                switch input {
                case .featureRows(let files, let model, let batchSize):
                    try await FeatureRowBatches.forEach(
                        files: files, model: model, batchSize: batchSize
                    ) { request in
                        try await send(request)
                    }
                case .customerRows(let files):
                    for file in files {
                        try await CustomerRowChunks.forEach(
                            file: file, chunkBytes: Self.csvChunkBytes
                        ) { data in
                            try await send(
                                .with {
                                    $0.csv = .with { $0.data = data }; $0.filters = filters
                                })
                        }
                    }
                case .transactions(let batches, let customerColumn, let snapshot):
                    try await batches.forEachMessage(
                        chunkBytes: Self.csvChunkBytes, customerColumn: customerColumn
                    ) { data in
                        try await send(
                            .with {
                                $0.csv = .with { $0.data = data }
                                $0.snapshotDate = snapshot
                                $0.filters = filters
                                $0.inputColumns = .with { $0.roles = roles }
                            })
                    }
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                inputFailure.withLock { $0 = error }
            }
        } onResponse: { response in
            var tally = Tally()
            for try await part in response.messages {
                if part.hasError {
                    let error = RPCError(
                        code: Status.Code(rawValue: Int(part.error.code)).flatMap(
                            RPCError.Code.init) ?? .unknown,
                        message: part.error.message)
                    failure.withLock { if $0 == nil { $0 = error } }
                }
                if failure.withLock({ $0 != nil }) { continue }
                tally.add(part)
                printer.add(part)
                bar.update(0, "\(tally.customers) customers")
            }
            return tally
        }
        if let error = inputFailure.withLock({ $0 }) {
            bar.finish("stopped: the input could not be read")
            throw error
        }
        if let error = failure.withLock({ $0 }) {
            bar.finish("stopped: a request of the stream failed")
            throw error
        }
        printer.finish()
        var details = ""
        if case .transactions(let batches, _, let snapshot) = input {
            details += "; \(batches.rows) rows read"
            if batches.skippedWithoutID > 0 {
                details += ", \(batches.skippedWithoutID) without a customer id skipped"
            }
            if !snapshot.isEmpty { details += "; recency measured to \(snapshot)" }
        }
        let removed = tally.steps.compactMap { step in
            tally.removed[step].flatMap { $0 > 0 ? "\($0) \(step)" : nil }
        }
        if !removed.isEmpty {
            details += "; removed by cleaning: " + removed.joined(separator: ", ")
        }
        // Nothing scored is a failure a script must see, with what removed every row.
        guard tally.customers > 0 else {
            bar.finish("stopped: no customer could be scored")
            throw CLIError.invalidInput("no scorable row in the input" + details)
        }
        let summary =
            "scored \(tally.customers) customer\(tally.customers == 1 ? "" : "s") with \(tally.model)"
            + details
        bar.finish(summary)
    }

    /// What the responses add up to.
    struct Tally: Sendable {
        var customers = 0
        var model = ""
        /// Rows removed per cleaning step or filter, the steps in the order they run.
        var removed: [String: Int64] = [:]
        var steps: [String] = []

        mutating func add(_ part: Segmentation_V1_ScoreResponse) {
            customers += part.scores.scores.count
            if model.isEmpty { model = "\(part.modelName)@\(part.modelVersion)" }
            for step in part.dataReport.steps {
                let label = step.rule.isEmpty ? step.name : step.rule
                if removed[label] == nil { steps.append(label) }
                removed[label, default: 0] += step.removed
            }
        }
    }
}

/// Customer rows cut into CSV messages of about `chunkBytes` with the header repeated, each
/// sent before the file is read on.
enum CustomerRowChunks {
    static func forEach(
        file: String, chunkBytes: Int, _ body: (Data) async throws -> Void
    ) async throws {
        var headerLine = Data()
        var current = Data()
        try await CSVRows.forEachBatch(file: file) { records in
            for record in records {
                let line = Data((CSVText.line(record) + "\n").utf8)
                if headerLine.isEmpty { headerLine = line; current = line; continue }
                if current.count + line.count > chunkBytes && current.count > headerLine.count {
                    try await body(current)
                    current = headerLine
                }
                current.append(line)
            }
        }
        if current.count > headerLine.count { try await body(current) }
    }
}

/// Files of the model's feature columns (plus an id column) as FeatureRows messages of
/// `batchSize` customers, each sent before the file is read on.
enum FeatureRowBatches {
    static func forEach(
        files: [String], model: Segmentation_V1_ModelDetail, batchSize: Int,
        _ body: (Segmentation_V1_ScoreRequest) async throws -> Void
    ) async throws {
        let expected = model.expectedColumns
        var columns = expected
        var pending: [Segmentation_V1_FeatureRow] = []
        func send() async throws {
            let rows = pending
            pending.removeAll(keepingCapacity: true)
            try await body(
                .with {
                    $0.features = .with {
                        $0.featureNames = columns; $0.rows = rows
                    }
                })
        }
        for file in files {
            var header: [String] = []
            var positions: [Int] = []
            var idIndex: Int?
            var number = 0
            try await CSVRows.forEachBatch(file: file) { records in
                for cells in records {
                    if header.isEmpty {
                        header = cells.map { $0.trimmingCharacters(in: .whitespaces) }
                        // A purchase summary beside the features gives customer-value figures.
                        columns = expected + PurchaseSummary.columnNames.filter(header.contains)
                        guard Set(columns).isSubset(of: header) else {
                            throw CLIError.invalidInput(
                                "\(file): the model's columns \(columns.joined(separator: ",")) are not all in the header"
                            )
                        }
                        positions = columns.map { header.firstIndex(of: $0)! }
                        let idNames = ["customer_id", "customerid", "customer", "cust_id", "id"]
                        idIndex =
                            header.firstIndex { idNames.contains($0.lowercased()) }
                            ?? header.indices.first { !columns.contains(header[$0]) }
                        continue
                    }
                    number += 1
                    pending.append(
                        try row(
                            cells, number: number, header: header, columns: columns,
                            positions: positions, idIndex: idIndex))
                    if pending.count >= batchSize { try await send() }
                }
            }
        }
        if !pending.isEmpty { try await send() }
    }

    private static func row(
        _ cells: [String], number: Int, header: [String], columns: [String], positions: [Int],
        idIndex: Int?
    ) throws -> Segmentation_V1_FeatureRow {
        let id = idIndex.flatMap { $0 < cells.count ? cells[$0] : nil } ?? "row \(number)"
        guard cells.count == header.count else {
            throw CLIError.invalidInput(
                "customer \(id.prefix(40)) (row \(number)): expected \(header.count) fields, found \(cells.count)"
            )
        }
        return try .with { row in
            row.customerID = id
            row.values = try zip(columns, positions).map { column, position in
                guard let value = Double(cells[position].trimmingCharacters(in: .whitespaces))
                else {
                    throw CLIError.invalidInput(
                        "customer \(id.prefix(40)): field \(column) = '\(cells[position].prefix(40))' is not a number"
                    )
                }
                return value
            }
        }
    }
}
