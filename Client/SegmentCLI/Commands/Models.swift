import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI
import Synchronization

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect, alias, delete and annotate model versions.",
        subcommands: [
            List.self, Show.self, Versions.self, Alias.self, Unalias.self, Delete.self,
            RenameSegment.self, Export.self, Diff.self, History.self, Drift.self,
            Sizes.self, ExportModel.self, ImportModel.self,
        ])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List models with their latest version and aliases.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let models = try await Pages.all { token in
                    let page = try await services.models.listModels(
                        .with {
                            $0.pageSize = Pages.size; $0.pageToken = token
                        })
                    return (page.models, page.nextPageToken)
                }
                let response = Segmentation_V1_ListModelsResponse.with { $0.models = models }
                let rows = response.models.map { model in
                    [
                        model.name, String(model.latestVersion), String(model.versionCount),
                        model.aliases.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                            .joined(separator: " "),
                        Output.timestamp(model.updatedAt),
                    ]
                }
                try Output.emit(
                    format, header: ["model", "latest", "versions", "aliases", "updated"],
                    rows: rows
                ) {
                    try Output.json(response)
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a version: data report, k table, metrics, segments and actions.")
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Flag(
            name: .customLong("include-sample"),
            help: "Include the customers kept for reports (json output).") var includeSample = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors(server: server.address) {
                let format = server.output
                let (reference, includeSample) = (reference, includeSample)
                try await server.withServer { services in
                    let model = try await services.models.getModel(
                        .with {
                            $0.model = .init(text: reference)
                            $0.includeSample = includeSample
                        }, options: largeResponses
                    ).model
                    // The last day's live scoring, when it has shifted (a warning beside the model's own).
                    let drift =
                        format == .table
                        ? try? await services.models.getDrift(
                            .with {
                                $0.model = .init(
                                    name: model.version.name, version: Int(model.version.version))
                            }) : nil
                    try ModelPrinter.show(
                        model, format: format,
                        warnings: drift.flatMap(DriftPrinter.warning).map { [$0] } ?? [])
                }
            }
        }
    }

    struct Versions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a model's versions.")
        @Argument(help: "Model name.") var name: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let versions = try await Pages.all { token in
                    let page = try await services.models.listVersions(
                        .with {
                            $0.name = name; $0.pageSize = Pages.size; $0.pageToken = token
                        })
                    return (page.versions, page.nextPageToken)
                }
                let response = Segmentation_V1_ListVersionsResponse.with { $0.versions = versions }
                let rows = response.versions.map { v in
                    [
                        String(v.version), v.aliases.joined(separator: " "), String(v.k),
                        Output.number(v.silhouette, digits: 4),
                        String(v.customers),
                        v.parentVersion > 0
                            ? "from @\(v.parentVersion)" : (v.jobID.isEmpty ? "" : v.jobID),
                        Output.timestamp(v.createdAt), v.problem,
                    ]
                }
                try Output.emit(
                    format,
                    header: [
                        "version", "aliases", "k", "silhouette", "customers", "origin", "created",
                        "problem",
                    ], rows: rows
                ) {
                    try Output.json(response)
                }
            }
        }
    }

    struct Unalias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alias.")
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Alias name.") var alias: String
        @Option(help: "Who deletes it (recorded in the alias history; at most 200 characters).")
        var author: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors(server: server.address) {
                try await server.withServer { services in
                    _ = try await services.models.deleteAlias(
                        .with {
                            $0.name = name; $0.alias = alias; $0.author = author ?? ""
                        })
                }
                FileHandle.standardError.writeQuietly("deleted alias \(name)@\(alias)\n")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a version (refused while an alias points at it, unless --force).")
        @Argument(help: "name@version.") var reference: String
        @Flag(help: "Delete even if aliases point at it (they are removed too).") var force = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors(server: server.address) {
                let parts = reference.split(separator: "@", maxSplits: 1)
                guard parts.count == 2, let version = Int(parts[1]), version >= 1 else {
                    throw CLIError.usage("'\(reference)' must be name@version, e.g. retail@3")
                }
                let format = server.output
                try await server.withServer { services in
                    let response = try await services.models.deleteVersion(
                        .with {
                            $0.model = .init(name: String(parts[0]), version: version);
                            $0.force = force
                        })
                    try Output.emit(
                        format, header: ["deleted", "removed_aliases"],
                        rows: [[reference, response.removedAliases.joined(separator: " ")]]
                    ) { try Output.json(response) }
                }
            }
        }
    }

    struct RenameSegment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rename-segment",
            abstract:
                "Give a segment a person's name, description or actions; registers a new version recording the change.",
            discussion: """
                Examples:
                  segment models rename-segment retail@3 0 "VIP"
                  segment models rename-segment retail 2 --description "Lapsed big spenders" --action "Call them" --action "Send a gift"
                """)
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Argument(help: "Segment id.") var segmentID: Int
        @Argument(help: "New name (at most 100 characters; omit to keep the name).") var newName:
            String?
        @Option(help: "New description (at most 1000 characters).") var description: String?
        @Option(
            name: .customLong("action"), parsing: .singleValue,
            help: "A new action (repeatable, at most 10; replaces the old actions).")
        var actions: [String] = []
        @Option(help: "Who renamed it (recorded).") var author: String?
        @OptionGroup var server: ServerOptions

        func validate() throws {
            guard newName != nil || description != nil || !actions.isEmpty else {
                throw ValidationError("give a new name, --description or --action")
            }
            let blank = { (text: String) in
                text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
            if newName.map(blank) == true { throw ValidationError("the new name is empty") }
            if description.map(blank) == true { throw ValidationError("--description is empty") }
            if actions.contains(where: blank) { throw ValidationError("an --action is empty") }
        }

        func run() async throws {
            let (newName, description, actions) = (newName, description, actions)
            try await server.call { services, format in
                let version = try await services.models.renameSegment(
                    .with {
                        $0.model = .init(text: reference)
                        $0.segmentID = Int32(segmentID)
                        $0.newName = newName ?? ""
                        if let description { $0.newDescription = description }
                        if !actions.isEmpty { $0.newActions = .with { $0.actions = actions } }
                        $0.author = author ?? ProcessInfo.processInfo.environment["USER"] ?? ""
                    }
                ).version
                try Output.emit(
                    format, header: ["model", "version", "from"],
                    rows: [[version.name, String(version.version), String(version.parentVersion)]]
                ) { try Output.json(version) }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write every training customer's segment, runner-up, distances, RFM score segment and features as CSV.",
            discussion:
                "Computed by the server from the version's stored training data, streamed. Numbers are plain numbers. "
                + "Transactions models with a customer-value model add p_alive, expected_purchases_90d, expected_spend "
                + "and clv_365d (empty where the model has no spend model)."
        )
        static let valueColumns = [
            "p_alive", "expected_purchases_90d", "expected_spend", "clv_365d",
        ]
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Option(name: .shortAndLong, help: "Output CSV file (default: standard output).")
        var output: String?
        @Option(
            name: .customLong("server"),
            help: "host:port of the segment server (env SEGMENT_SERVER; default 127.0.0.1:50051).")
        var server: String?
        @Option(
            name: .customLong("token-file"),
            help: "File holding the bearer token (default: env SEGMENT_TOKEN).")
        var tokenFile: String?
        @OptionGroup var tls: TLSOptions

        func validate() throws {
            // Elsewhere -o names a format; here it names the file, and the format is always CSV.
            if let output, OutputFormat(rawValue: output) != nil {
                throw ValidationError(
                    "-o names the CSV file to write here, not a format: export always writes CSV (e.g. -o assignments.csv)"
                )
            }
        }

        func run() async throws {
            var options = ServerOptions()
            options.server = server
            options.tokenFile = tokenFile
            options.tls = tls
            let (reference, path) = (reference, output)
            try await reportingErrors(server: options.address) {
                let sink = try CSVSink(path: path)
                let count = try await options.withServer { services in
                    try await services.models.exportAssignments(
                        .with { $0.model = .init(text: reference) }, options: largeResponses
                    ) { response in
                        var names: [String: String] = [:]
                        var features: [String] = []
                        var withValue = false
                        var count = 0
                        for try await part in response.messages {
                            if count == 0 {
                                withValue = !part.pAlive.isEmpty
                                features = part.featureNames
                                let detail = try await services.models.getModel(
                                    .with {
                                        $0.model = .init(
                                            name: part.modelName, version: Int(part.modelVersion))
                                    }
                                ).model
                                names = Dictionary(
                                    uniqueKeysWithValues: detail.segments.map {
                                        (String($0.id), $0.name)
                                    })
                                try sink.write(
                                    [
                                        "customer", "segment_id", "segment", "distance",
                                        "runner_up_id", "runner_up", "runner_up_distance",
                                        "rfm_segment", "outlier", "atypical",
                                    ] + (withValue ? Self.valueColumns : []) + features)
                            }
                            for i in part.customerIds.indices {
                                let values = part.features[
                                    (i * features.count)..<((i + 1) * features.count)
                                ].map(Output.raw)
                                try sink.write(
                                    [
                                        part.customerIds[i], String(part.segmentIds[i]),
                                        names[String(part.segmentIds[i])] ?? "",
                                        Output.raw(part.distances[i]), String(part.runnerUpIds[i]),
                                        names[String(part.runnerUpIds[i])] ?? "",
                                        Output.raw(part.runnerUpDistances[i]), part.rfmSegments[i],
                                        part.outliers[i] ? "true" : "false",
                                        i < part.atypical.count ? part.atypical[i] : "",
                                    ]
                                        + (withValue
                                            ? [
                                                part.pAlive, part.expectedPurchases90D,
                                                part.expectedSpend, part.clv365D,
                                            ].map {
                                                i < $0.count && !$0[i].isNaN
                                                    ? Output.raw($0[i]) : ""
                                            }
                                            : []) + values)
                            }
                            count += part.customerIds.count
                        }
                        return count
                    }
                }
                try sink.close()
                FileHandle.standardError.writeQuietly(
                    "exported \(count) customers of \(reference)\(path.map { " to \($0)" } ?? "")\n"
                )
            }
        }
    }
}

/// CSV rows to a file (written whole or not at all: a temporary file renamed at the end) or stdout.
final class CSVSink: Sendable {
    private let path: String?
    private let temporary: String?
    private let handle: FileHandle
    private let buffer = Mutex(Data())

    init(path: String?) throws {
        self.path = path
        if let path {
            let temporary = path + ".partial"
            guard FileManager.default.createFile(atPath: temporary, contents: nil),
                let handle = FileHandle(forWritingAtPath: temporary)
            else {
                throw CLIError.invalidInput("cannot write \(path)")
            }
            self.temporary = temporary
            self.handle = handle
        } else {
            temporary = nil
            handle = FileHandle.standardOutput
        }
    }

    deinit {
        if let temporary, FileManager.default.fileExists(atPath: temporary) {
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }

    func write(_ fields: [String]) throws {
        let full = buffer.withLock { buffer in
            buffer.append(contentsOf: (CSVText.line(fields) + "\n").utf8)
            return buffer.count >= 1 << 20
        }
        if full { try flush() }
    }

    private func flush() throws {
        let data = buffer.withLock { buffer in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        if path == nil {
            handle.writeQuietly(String(decoding: data, as: UTF8.self))
        } else {
            try handle.write(contentsOf: data)
        }
    }

    func close() throws {
        try flush()
        guard let path, let temporary else { return }
        try handle.close()
        if FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}
