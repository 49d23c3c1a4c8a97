import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect, alias, delete and annotate model versions.",
        subcommands: [List.self, Show.self, Versions.self, Alias.self, Unalias.self, Delete.self, RenameSegment.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List models with their latest version and aliases.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let response = try await services.models.listModels(.init())
                let rows = response.models.map { model in
                    [model.name, String(model.latestVersion), String(model.versionCount),
                     model.aliases.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                     Output.timestamp(model.updatedAt)]
                }
                try Output.emit(format, header: ["model", "latest", "versions", "aliases", "updated"], rows: rows) {
                    try Output.json(response)
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a version: data report, k table, metrics, segments and actions.")
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Flag(name: .customLong("include-sample"), help: "Include the customers kept for reports (json output).") var includeSample = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors(server: server.address) {
                let format = server.output
                let (reference, includeSample) = (reference, includeSample)
                try await server.withServer { services in
                    let model = try await services.models.getModel(.with {
                        $0.reference = reference
                        $0.includeSample = includeSample
                    }, options: largeResponses).model
                    let table = ModelPrinter.segmentsTable(model)
                    switch format {
                    case .json: Output.print(try Output.json(model))
                    case .csv: Output.print(Output.csv(table.header, table.rows))
                    case .table:
                        Output.print(ModelPrinter.summary(model))
                        Output.print("")
                        Output.print(ModelPrinter.kTable(model.kTable, chosen: model.chosenK, elbow: model.elbowK))
                        Output.print("")
                        Output.print(Output.table(table.header, table.rows))
                        Output.print("")
                        Output.print(ModelPrinter.actions(model))
                    }
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
                let response = try await services.models.listVersions(.with { $0.name = name })
                let rows = response.versions.map { v in
                    [String(v.version), v.aliases.joined(separator: " "), String(v.k), Output.number(v.silhouette, digits: 4),
                     String(v.customers), v.parentVersion > 0 ? "from @\(v.parentVersion)" : (v.jobID.isEmpty ? "" : v.jobID),
                     Output.timestamp(v.createdAt)]
                }
                try Output.emit(format, header: ["version", "aliases", "k", "silhouette", "customers", "origin", "created"], rows: rows) {
                    try Output.json(response)
                }
            }
        }
    }

    struct Alias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Point an alias (e.g. production) at a version; atomic.")
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Alias name.") var alias: String
        @Argument(help: "Version number.") var version: Int
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let response = try await services.models.setAlias(.with {
                    $0.name = name; $0.alias = alias; $0.version = Int32(version)
                })
                let moved = response.previousVersion > 0 ? " (was \(response.previousVersion))" : ""
                try Output.emit(format, header: ["model", "alias", "version", "previous"],
                                rows: [[name, alias, String(version), response.previousVersion > 0 ? String(response.previousVersion) : ""]]) {
                    try Output.json(response)
                }
                if format == .table { FileHandle.standardError.writeQuietly("\(name)@\(alias) -> \(version)\(moved)\n") }
            }
        }
    }

    struct Unalias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alias.")
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Alias name.") var alias: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await reportingErrors(server: server.address) {
                try await server.withServer { services in
                    _ = try await services.models.deleteAlias(.with { $0.name = name; $0.alias = alias })
                }
                FileHandle.standardError.writeQuietly("deleted alias \(name)@\(alias)\n")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a version (refused while an alias points at it, unless --force).")
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
                    let response = try await services.models.deleteVersion(.with {
                        $0.name = String(parts[0]); $0.version = Int32(version); $0.force = force
                    })
                    try Output.emit(format, header: ["deleted", "removed_aliases"],
                                    rows: [[reference, response.removedAliases.joined(separator: " ")]]) { try Output.json(response) }
                }
            }
        }
    }

    struct RenameSegment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rename-segment",
            abstract: "Give a segment a person's name; registers a new version recording the change.")
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Argument(help: "Segment id.") var segmentID: Int
        @Argument(help: "New name.") var newName: String
        @Option(help: "Who renamed it (recorded).") var author: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let version = try await services.models.renameSegment(.with {
                    $0.reference = reference
                    $0.segmentID = Int32(segmentID)
                    $0.newName = newName
                    $0.author = author ?? ProcessInfo.processInfo.environment["USER"] ?? ""
                }).version
                try Output.emit(format, header: ["model", "version", "from"],
                                rows: [[version.name, String(version.version), String(version.parentVersion)]]) { try Output.json(version) }
            }
        }
    }
}
