import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI

extension Models {
    struct Alias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Point an alias (e.g. production) at a version, or at another alias's version; atomic.",
            discussion:
                "Before it moves an alias, it shows how many customers the switch would move and where: the new "
                + "version's training customers scored by both (what changes for the same data). --dry-run only shows. "
                + "Every change is kept in the alias history (segment models history NAME)."
        )
        @Argument(help: "Model name.") var name: String
        @Argument(help: "Alias name.") var alias: String
        @Argument(
            help:
                "Version number, or another alias (promote staging: alias NAME production staging)."
        ) var target: String
        @Flag(help: "Show what the switch would change, and do not switch.") var dryRun = false
        @Option(
            help:
                "Switch only if the alias points at this version now (0: only if it does not exist yet); otherwise nothing changes and it exits 6. Without it, the version the preview showed is expected."
        )
        var expectVersion: Int32?
        @Option(help: "Who moves it (recorded in the alias history; at most 200 characters).")
        var author: String?
        @OptionGroup var server: ServerOptions

        func validate() throws {
            if let expectVersion, expectVersion < 0 {
                throw ValidationError(
                    "--expect-version must be a version number, or 0 for an alias that must not exist yet"
                )
            }
        }

        func run() async throws {
            let (name, alias, target, dryRun, author) = (name, alias, target, dryRun, author)
            let expectVersion = expectVersion
            try await server.call { services, format in
                // The alias as the preview saw it: the switch then happens only if it is still
                // there (compare-and-swap), so what was shown is what is switched.
                var current: Result<Int32?, any Error>?
                var previewed: (Int32, Int32)?
                if format == .table {
                    let read: Result<Int32?, any Error>
                    do {
                        read = .success(try await Self.current(name, alias, services))
                    } catch {
                        read = .failure(error)
                    }
                    previewed = await Self.preview(
                        name, alias, target, current: read, services: services)
                    current = read
                }
                guard !dryRun else {
                    if format != .table {
                        try await Self.previewData(name, alias, target, services, format)
                    }
                    return
                }
                let expected = expectVersion ?? (try? current?.get()).map { $0 ?? 0 }
                let response = try await services.models.setAlias(
                    .with {
                        $0.model = .init(text: "\(name)@\(target)"); $0.alias = alias
                        $0.author = author ?? ""
                        if let expected { $0.expectedVersion = expected }
                    })
                let moved = response.previousVersion > 0 ? " (was \(response.previousVersion))" : ""
                try Output.emit(
                    format, header: ["model", "alias", "version", "previous"],
                    rows: [
                        [
                            name, alias, String(response.version),
                            response.previousVersion > 0 ? String(response.previousVersion) : "",
                        ]
                    ]
                ) {
                    try Output.json(response)
                }
                if format == .table {
                    FileHandle.standardError.writeQuietly(
                        "\(name)@\(alias) -> \(response.version)\(moved)\n")
                    // The target (an alias) moved between the preview and the switch.
                    if let previewed, previewed != (response.previousVersion, response.version) {
                        FileHandle.standardError.writeQuietly(
                            "note: the preview above was of \(previewed.0) -> \(previewed.1); the alias moved from \(response.previousVersion) to \(response.version) (changed meanwhile)\n"
                        )
                    }
                }
            }
        }

        /// The version the alias points at now, nil for a new alias.
        static func current(
            _ name: String, _ alias: String, _ services: Services
        ) async throws -> Int32? {
            do {
                return try await services.models.getModel(
                    .with { $0.model = .init(text: "\(name)@\(alias)") }, options: largeResponses
                ).model.version.version
            } catch let error as RPCError where error.code == .notFound {
                return nil
            }
        }

        /// "production: 6 -> 7 would move ..." on standard output, before the switch; the versions
        /// previewed, or nil when there was nothing to preview. A preview that fails (a dataset
        /// deleted, the versions not comparable) is said, and the switch goes on.
        static func preview(
            _ name: String, _ alias: String, _ target: String,
            current: Result<Int32?, any Error>, services: Services
        ) async -> (Int32, Int32)? {
            do {
                guard let from = try current.get() else {
                    Output.print("\(name)@\(alias) is new: no customer is served by it yet.")
                    return nil
                }
                let diff = try await switchDiff(name, from: from, to: target, services)
                Output.print(AliasPreview.text(alias: alias, diff))
                return (diff.fromVersion, diff.toVersion)
            } catch let error as RPCError {
                Output.print("cannot show what the switch changes: \(error.message)")
            } catch {
                Output.print("cannot show what the switch changes: \(error)")
            }
            return nil
        }

        /// --dry-run with -o csv or json: the switch's diff as `models diff --rescore` gives it.
        static func previewData(
            _ name: String, _ alias: String, _ target: String, _ services: Services,
            _ format: OutputFormat
        ) async throws {
            guard let from = try await current(name, alias, services) else {
                throw CLIError.usage("\(name)@\(alias) is new: there is nothing to compare")
            }
            let diff = try await switchDiff(name, from: from, to: target, services)
            try DiffPrinter.print(diff, format: format, customers: false)
        }

        /// What moving the alias from version `from` to `target` changes: the target's training
        /// customers scored by both.
        static func switchDiff(
            _ name: String, from: Int32, to target: String, _ services: Services
        ) async throws -> Segmentation_V1_DiffModelsResponse {
            try await services.models.diffModels(
                .with {
                    $0.from = .init(name: name, version: Int(from))
                    $0.to = .init(text: "\(name)@\(target)")
                    $0.rescore = true
                }, options: largeResponses)
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show every change of a model's aliases: who moved which alias from what to what, and when."
        )
        @Argument(help: "Model name.") var name: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let name = name
            try await server.call { services, format in
                let events = try await Pages.all { token in
                    let page = try await services.models.listAliasHistory(
                        .with {
                            $0.name = name; $0.pageSize = Pages.size; $0.pageToken = token
                        })
                    return (page.events, page.nextPageToken)
                }
                let rows = events.map { event -> [String] in
                    [
                        Output.timestamp(event.at), event.alias, Self.change(event),
                        event.author, event.role, event.peer,
                    ]
                }
                try Output.emit(
                    format, header: ["at", "alias", "change", "author", "role", "peer"], rows: rows
                ) {
                    try Output.json(
                        Segmentation_V1_ListAliasHistoryResponse.with { $0.events = events })
                }
            }
        }

        static func change(_ event: Segmentation_V1_AliasEvent) -> String {
            switch event.action {
            case .set:
                event.previousVersion > 0
                    ? "\(event.previousVersion) -> \(event.version)" : "set to \(event.version)"
            case .deleted: "deleted (was \(event.previousVersion))"
            case .removedWithVersion: "removed with version \(event.previousVersion)"
            default: "?"
            }
        }
    }
}

/// What moving an alias changes, in words: the customers who would move and the largest moves.
enum AliasPreview {
    static func text(alias: String, _ diff: Segmentation_V1_DiffModelsResponse) -> String {
        let (from, to) = (diff.fromVersion, diff.toVersion)
        guard from != to else { return "\(alias) already points at \(to): nothing moves." }
        let share = diff.customers > 0 ? Double(diff.moved) / Double(diff.customers) : 0
        var lines = [
            "\(alias): \(from) -> \(to) would move \(diff.moved) of the \(diff.customers) customers of @\(to)'s training data "
                + "(\(Output.percent(share))) to a segment that does not continue theirs"
                + (diff.hasMovedValue && diff.totalValue > 0
                    ? "; they hold \(Output.percent(diff.movedValue / diff.totalValue)) of those customers' 365-day lifetime value."
                    : ".")
        ]
        let movement = diff.movement
        let continuing = Set(
            diff.matches.filter { $0.kind == .matched }.map { [$0.previousID, $0.currentID] })
        var moves: [(count: Int64, from: String, to: String)] = []
        for (f, a) in movement.from.enumerated() {
            for (t, b) in movement.to.enumerated() where !continuing.contains([a.id, b.id]) {
                let count = movement.counts[f * movement.to.count + t]
                if count > 0 { moves.append((count, a.name, b.name)) }
            }
        }
        for move in moves.sorted(by: { $0.count > $1.count }).prefix(8) {
            lines.append("  \(move.count)  \(move.from) -> \(move.to)")
        }
        if moves.count > 8 { lines.append("  (and \(moves.count - 8) smaller moves)") }
        return lines.joined(separator: "\n")
    }
}
