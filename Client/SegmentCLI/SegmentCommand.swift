import ArgumentParser
import Foundation
import SegmentBuild

/// `segment`: the command-line client of the segment server.
public struct SegmentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Train, version and score customer-segmentation models on a segment server.",
        discussion: """
            Exit codes: 0 success, 1 other failure, 3 not found, 4 invalid input, 5 server unreachable, \
            6 conflict, 7 training job failed or cancelled, 64 usage.
            """,
        version: BuildInfo.current.line(program: "segment"),
        subcommands: [
            Train.self, Jobs.self, Score.self, Models.self, Report.self, Datasets.self,
            GenerateSample.self, Health.self, Live.self,
        ])

    public init() {}

    /// Parses and runs a command. Usage mistakes print one line, `segment: error: ...` with a
    /// pointer to --help, and exit 64, like every other error; --help prints help.
    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let text = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            guard code == .validationFailure, !text.isEmpty else { exit(withError: error) }
            let line = text.split(separator: "\n").first.map(String.init) ?? text
            let cleaned = line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : line
            FileHandle.standardError.writeQuietly("segment: error: \(cleaned) (see --help)\n")
            exit(withError: ExitCode.validationFailure)
        }
    }
}
