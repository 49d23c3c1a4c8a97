import ArgumentParser
import Foundation
import SegmentBuild
import SegmentServer

/// `segment-server backup --to FILE`: the embedded registry and its datasets in one checksummed
/// file, taken while the server runs.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-server backup",
        abstract:
            "Copy the embedded registry and its datasets into one checksummed file (consistent while a server runs).",
        discussion:
            "Restore with segment-server restore. Exit codes: 0 done, 64 usage, 73 no embedded registry in the data directory, 74 a read or write failed.",
        version: BuildInfo.current.line(program: "segment-server"))

    @Option(help: "The backup file to write (replaced when it exists).")
    var to: String

    @OptionGroup var store: StoreOptions

    func run() throws {
        let (data, datasets) = (store.data, store.datasets)
        let summary = try BackupFailure.exiting {
            try RegistryBackup.backup(dataDirectory: data, datasetsDirectory: datasets, to: to)
        }
        print(
            "backed up \(summary.models) models, \(summary.versions) versions and \(summary.datasets) datasets (\(summary.files) files, \(summary.bytes) bytes) to \(to)"
        )
    }
}

/// `segment-server restore --from FILE --data-dir DIR`: a backup into a data directory without a
/// registry, checked whole before anything is written.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-server restore",
        abstract:
            "Restore a backup into a data directory that holds no registry yet; start segment-server on it after.",
        discussion:
            "The whole file is checked (every entry's SHA-256 and the file's) before anything is written. Exit codes: 0 done, 64 usage, 65 damaged or from a newer server, 73 the folder already holds a registry, 74 a read or write failed.",
        version: BuildInfo.current.line(program: "segment-server"))

    @Option(help: "The backup file (written by segment-server backup).")
    var from: String

    @OptionGroup var store: StoreOptions

    func run() throws {
        let (data, datasets) = (store.data, store.datasets)
        let summary = try BackupFailure.exiting {
            try RegistryBackup.restore(from: from, into: data, datasetsDirectory: datasets)
        }
        print(
            "restored \(summary.models) models, \(summary.versions) versions and \(summary.datasets) datasets into \(data) (backed up \(summary.created) by \(summary.server))"
        )
    }
}

/// The data directory (restore: empty or new) and its datasets folder, as the server names them.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The data directory (env SEGMENT_DATA_DIR; default ./segmentation-data).")
    var dataDirectory: String?

    @Option(
        name: .customLong("datasets-dir"),
        help: "Its datasets folder, when not DATA_DIR/datasets (env SEGMENT_DATASETS_DIR).")
    var datasetsDirectory: String?

    var data: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["SEGMENT_DATA_DIR"]
            ?? "./segmentation-data"
    }
    var datasets: String? {
        datasetsDirectory ?? ProcessInfo.processInfo.environment["SEGMENT_DATASETS_DIR"]
    }
}

/// One line and a distinct exit code per kind of failure (sysexits.h).
enum BackupFailure {
    static func exiting<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BackupError {
            let code: Int32 =
                switch error.kind {
                case .damaged, .incompatible: 65
                case .target: 73
                case .io: 74
                }
            FileHandle.standardError.write(Data("segment-server: error: \(error)\n".utf8))
            throw ExitCode(code)
        } catch {
            FileHandle.standardError.write(Data("segment-server: error: \(error)\n".utf8))
            throw ExitCode(74)
        }
    }
}

/// The server, or its `backup`, `restore` and `openapi` commands.
@main
enum Entry {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "backup": BackupCommand.main(Array(arguments.dropFirst()))
        case "restore": RestoreCommand.main(Array(arguments.dropFirst()))
        case "openapi": OpenAPICommand.main(Array(arguments.dropFirst()))
        default: await SegmentServerCommand.main()
        }
    }
}
